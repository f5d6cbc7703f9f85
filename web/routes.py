"""HTML pages: sign-in, sign-out, the home page per role, language switch, own password.

The ledger pages live in web/ledger_pages.py and the admin/inspector pages in
web/admin_pages.py; this module gathers them into one router.
"""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import urlparse

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import EngineDep
from ledger import users
from ledger.entries import Problem
from ledger.journal import LedgerRefusal
from ledger.permissions import ROLE_NAMES_ZH, allowed
from web import i18n
from web.deps import (
    PRELOGIN_COOKIE,
    SESSION_COOKIE,
    CurrentUser,
    SessionDep,
    csrf_protect,
    csrf_protect_prelogin,
    optional_session,
)
from web.templating import templates

router = APIRouter(include_in_schema=False)


def render(request: Request, name: str, context: dict | None = None, status_code: int = 200) -> HTMLResponse:
    ctx = {"request": request, "session": getattr(request.state, "session", None), "allowed": allowed,
           "role_names_zh": ROLE_NAMES_ZH}
    ctx.update(context or {})
    return templates.TemplateResponse(request, name, ctx, status_code=status_code)


def error_page(request: Request, status_code: int, problems: list[Problem] | None = None) -> HTMLResponse:
    return render(request, "error.html", {"status_code": status_code, "problems": problems or []}, status_code)


def _safe_next(target: str | None) -> str:
    # Only local paths: never redirect a signed-in officer to another site.
    if not target:
        return "/"
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/", error: str | None = None) -> Response:
    token = secrets.token_urlsafe(32)
    resp = render(request, "login.html", {"next": _safe_next(next), "prelogin": token, "error": error})
    resp.set_cookie(PRELOGIN_COOKIE, token, httponly=True, samesite="strict",
                    secure=request.app.state.settings.cookie_secure, max_age=3600)
    return resp


@router.post("/login", dependencies=[Depends(csrf_protect_prelogin)])
def login(
    request: Request,
    engine: EngineDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    ip = request.client.host if request.client else None
    try:
        signed = users.sign_in(engine, username, password, ip, request.headers.get("user-agent"))
    except users.Throttled:
        return _login_again(request, next, "throttled", 429)
    except users.AuthFailed:
        return _login_again(request, next, "failed", 401)
    resp = RedirectResponse(_safe_next(next), status_code=303)
    settings = request.app.state.settings
    resp.set_cookie(SESSION_COOKIE, signed.token, httponly=True, samesite="lax", secure=settings.cookie_secure,
                    max_age=settings.session_max_hours * 3600)
    resp.delete_cookie(PRELOGIN_COOKIE)
    return resp


def _login_again(request: Request, next: str, error: str, status_code: int) -> Response:
    token = secrets.token_urlsafe(32)
    resp = render(request, "login.html", {"next": _safe_next(next), "prelogin": token, "error": error}, status_code)
    resp.set_cookie(PRELOGIN_COOKIE, token, httponly=True, samesite="strict",
                    secure=request.app.state.settings.cookie_secure, max_age=3600)
    return resp


@router.post("/logout", dependencies=[Depends(csrf_protect)])
def logout(request: Request, engine: EngineDep) -> Response:
    users.sign_out(engine, request.cookies.get(SESSION_COOKIE))
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE)
    return resp


@router.get("/", response_class=HTMLResponse)
def home(request: Request, view: SessionDep) -> Response:
    return render(request, "home.html", {"actor": view.actor})


@router.get("/lang/{locale}")
def switch_language(request: Request, locale: str, next: str = "/",
                    _view: users.SessionView | None = Depends(optional_session)) -> Response:
    resp = RedirectResponse(_safe_next(next), status_code=303)
    if locale in i18n.LOCALES:
        resp.set_cookie(i18n.LANG_COOKIE, locale, httponly=False, samesite="lax", max_age=365 * 24 * 3600)
    return resp


@router.get("/account/password", response_class=HTMLResponse)
def password_form(request: Request, actor: CurrentUser) -> Response:
    return render(request, "password.html", {"done": False})


@router.post("/account/password", response_class=HTMLResponse, dependencies=[Depends(csrf_protect)])
def password_change(
    request: Request,
    engine: EngineDep,
    view: SessionDep,
    current_password: Annotated[str, Form(max_length=256)],
    new_password: Annotated[str, Form(max_length=256)],
    confirm_password: Annotated[str, Form(max_length=256)],
) -> Response:
    if new_password != confirm_password:
        problems = [Problem("user", "confirm_password", "***", i18n.gettext("The two new passwords differ."))]
        return render(request, "password.html", {"done": False, "problems": problems}, 422)
    try:
        users.change_password(engine, view.actor, current_password, new_password, keep_session_hash=view.token_hash)
    except LedgerRefusal as exc:
        return render(request, "password.html", {"done": False, "problems": exc.problems}, 422)
    return render(request, "password.html", {"done": True})


def _include_pages() -> None:
    from web import admin_pages, ledger_pages, registry_pages

    router.include_router(ledger_pages.router)
    router.include_router(registry_pages.router)
    router.include_router(admin_pages.router)

    from web import project_pages

    router.include_router(project_pages.router)

    from web import dashboard_pages

    router.include_router(dashboard_pages.router)

    from web import payment_pages

    router.include_router(payment_pages.router)

    from web import welfare_pages

    router.include_router(welfare_pages.router)


_include_pages()
