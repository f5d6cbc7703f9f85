"""Who is looking at a page, and the CSRF guard for everything that changes state.

A page's user comes from the session cookie. Every POST from a page must carry the session's
CSRF token, as the form field `csrf_token` or (htmx) the header `X-CSRF-Token`; the sign-in form,
which has no session yet, uses a double-submit cookie instead.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from api.deps import EngineDep
from ledger import users
from ledger.permissions import Actor, allowed

SESSION_COOKIE = "huimin_session"
PRELOGIN_COOKIE = "huimin_prelogin"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class NotSignedIn(Exception):
    """Raised by page dependencies; the app turns it into a redirect to the sign-in page."""


def current_session(request: Request, engine: EngineDep) -> users.SessionView:
    view = users.resolve_session(engine, request.cookies.get(SESSION_COOKIE))
    if view is None:
        raise NotSignedIn()
    request.state.session = view
    return view


SessionDep = Annotated[users.SessionView, Depends(current_session)]


def current_user(view: SessionDep) -> Actor:
    return view.actor


CurrentUser = Annotated[Actor, Depends(current_user)]


def optional_session(request: Request, engine: EngineDep) -> users.SessionView | None:
    view = users.resolve_session(engine, request.cookies.get(SESSION_COOKIE))
    if view is not None:
        request.state.session = view
    return view


async def _submitted_token(request: Request) -> str:
    token = request.headers.get(CSRF_HEADER, "")
    if not token and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD, "")
        token = value if isinstance(value, str) else ""
    return token


async def csrf_protect(request: Request, view: SessionDep) -> None:
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    token = await _submitted_token(request)
    if not token or not hmac.compare_digest(token, view.csrf_token):
        raise HTTPException(status_code=403, detail="CSRF token missing or wrong")


async def csrf_protect_prelogin(request: Request) -> None:
    cookie = request.cookies.get(PRELOGIN_COOKIE, "")
    token = await _submitted_token(request)
    if not cookie or not token or not hmac.compare_digest(token, cookie):
        raise HTTPException(status_code=403, detail="CSRF token missing or wrong")


def page_allowed(actor: Actor, permission: str) -> None:
    """Pages check too (for a clear 403 page); the service below checks again regardless."""
    if not allowed(actor, permission):
        raise HTTPException(status_code=403, detail="forbidden")
