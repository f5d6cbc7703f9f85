"""Admin and inspector pages: the audit log (read, filter, export) and user management.

The audit log is append-only: these pages only read it. User changes go through ledger.users,
which checks `users.manage` and writes the audit rows itself.
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import EngineDep
from ledger import queries, services, users
from ledger.entries import Problem
from ledger.journal import LedgerRefusal
from ledger.permissions import ROLES
from web.deps import CurrentUser, csrf_protect, page_allowed
from web.i18n import gettext as _
from web.ledger_pages import (
    MAX_PAGE,
    PLAIN,
    DateText,
    check_range,
    clean,
    export_format,
    export_links,
    export_response,
    html_or_partial,
    pager,
    parse_date,
    url_with,
)
from web.routes import render

router = APIRouter(include_in_schema=False)

ASSIGNABLE_ROLES = tuple(r for r in ROLES if r != "system")
MAX_USER_ID = 2**31 - 1


# ---------------------------------------------------------------------------------------------
# Audit log


def _pretty(text: str | None) -> str:
    """Before/after JSON, indented for reading (the template escapes it)."""
    if not text:
        return ""
    try:
        return json.dumps(json.loads(text), ensure_ascii=False, indent=1, sort_keys=True)
    except ValueError:
        return text


def _audit_filter(actor_name: str | None, action: str | None, object_type: str | None, date_from: str | None,
                  date_to: str | None) -> tuple[queries.AuditFilter, dict, list[str]]:
    problems: list[str] = []
    d_from = parse_date(date_from, _("From"), problems)
    d_to = parse_date(date_to, _("To"), problems)
    check_range(d_from, d_to, problems)
    f = queries.AuditFilter(actor=clean(actor_name), action=clean(action), object_type=clean(object_type),
                            date_from=d_from, date_to=d_to)
    params = {"actor": f.actor, "action": f.action, "object_type": f.object_type,
              "date_from": d_from.isoformat() if d_from else None, "date_to": d_to.isoformat() if d_to else None}
    return f, params, problems


FilterText = Annotated[str | None, Query(max_length=64, pattern=PLAIN)]


@router.get("/audit", response_class=HTMLResponse)
def audit_log(
    request: Request,
    engine: EngineDep,
    actor: CurrentUser,
    who: Annotated[str | None, Query(alias="actor", max_length=64, pattern=PLAIN)] = None,
    action: FilterText = None,
    object_type: FilterText = None,
    date_from: DateText = None,
    date_to: DateText = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
) -> Response:
    page_allowed(actor, "audit.read")
    f, params, problems = _audit_filter(who, action, object_type, date_from, date_to)
    ctx: dict = {"params": params, "problems": problems, "exports": export_links("/audit/export", params)}
    if problems:
        ctx.update(result=None, rows=[], pager=None)
        return html_or_partial(request, "audit.html", "partials/audit_results.html", ctx, 422)
    result = services.audit_page(engine, actor, f, page)
    rows = [{"a": a, "before": _pretty(a.before), "after": _pretty(a.after)} for a in result.items]
    ctx.update(result=result, rows=rows, pager=pager("/audit", params, result))
    return html_or_partial(request, "audit.html", "partials/audit_results.html", ctx,
                           push_url=url_with("/audit", params, page=page if page > 1 else None))


@router.get("/audit/export")
def audit_export(
    engine: EngineDep,
    actor: CurrentUser,
    format: Annotated[str, Query(max_length=8)] = "xlsx",
    who: Annotated[str | None, Query(alias="actor", max_length=64, pattern=PLAIN)] = None,
    action: FilterText = None,
    object_type: FilterText = None,
    date_from: DateText = None,
    date_to: DateText = None,
) -> Response:
    page_allowed(actor, "audit.read")
    fmt = export_format(format)
    f, _params, problems = _audit_filter(who, action, object_type, date_from, date_to)
    if problems:
        raise HTTPException(status_code=422, detail="; ".join(problems))
    name, data = services.export_list(engine, actor, "audit", fmt, {"filter": f})
    return export_response(name, data, fmt)


# ---------------------------------------------------------------------------------------------
# Users


def _users_page(request: Request, engine, actor, *, status_code: int = 200, problems: list[Problem] | None = None,
                form: dict | None = None, notice: str | None = None) -> Response:
    return render(request, "admin_users.html", {
        "users": users.list_users(engine, actor), "roles": ASSIGNABLE_ROLES, "problems": problems or [],
        "form": form or {}, "notice": notice, "min_password": users.MIN_PASSWORD_LEN,
    }, status_code)


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, engine: EngineDep, actor: CurrentUser,
               done: Annotated[str | None, Query(max_length=16)] = None,
               name: Annotated[str | None, Query(max_length=64, pattern=PLAIN)] = None) -> Response:
    page_allowed(actor, "users.manage")
    notice = None
    if done == "created" and name:
        notice = _("User %(name)s was created.") % {"name": name}
    elif done == "activated" and name:
        notice = _("User %(name)s was activated.") % {"name": name}
    elif done == "deactivated" and name:
        notice = _("User %(name)s was deactivated and signed out everywhere.") % {"name": name}
    return _users_page(request, engine, actor, notice=notice)


@router.post("/admin/users", response_class=HTMLResponse, dependencies=[Depends(csrf_protect)])
def users_create(
    request: Request,
    engine: EngineDep,
    actor: CurrentUser,
    username: Annotated[str, Form(max_length=64, pattern=PLAIN)],
    role: Annotated[str, Form(max_length=32, pattern=PLAIN)],
    password: Annotated[str, Form(max_length=256)],
    display_name: Annotated[str, Form(max_length=128, pattern=PLAIN)] = "",
    township: Annotated[str, Form(max_length=64, pattern=PLAIN)] = "",
) -> Response:
    page_allowed(actor, "users.manage")
    username = username.strip().lower()
    form = {"username": username, "role": role, "display_name": display_name, "township": township}
    try:
        users.create_user(engine, actor, username, role, password, township=township or None,
                          display_name=display_name)
    except LedgerRefusal as exc:
        return _users_page(request, engine, actor, status_code=422, problems=exc.problems, form=form)
    return RedirectResponse(url_with("/admin/users", {}, done="created", name=username), status_code=303)


def _set_active(request: Request, engine, actor, user_id: int, active: bool) -> Response:
    page_allowed(actor, "users.manage")
    if user_id == actor.user_id and not active:
        problem = Problem("user", "user", str(user_id), _("You cannot deactivate your own account."))
        return _users_page(request, engine, actor, status_code=422, problems=[problem])
    known = {u.id: u.username for u in users.list_users(engine, actor)}
    if user_id not in known:
        raise HTTPException(status_code=404, detail="no such user")
    users.set_user_active(engine, actor, user_id, active)
    done = "activated" if active else "deactivated"
    return RedirectResponse(url_with("/admin/users", {}, done=done, name=known[user_id]), status_code=303)


UserId = Annotated[int, Path(ge=1, le=MAX_USER_ID)]


@router.post("/admin/users/{user_id}/activate", dependencies=[Depends(csrf_protect)])
def users_activate(request: Request, engine: EngineDep, actor: CurrentUser, user_id: UserId) -> Response:
    return _set_active(request, engine, actor, user_id, True)


@router.post("/admin/users/{user_id}/deactivate", dependencies=[Depends(csrf_protect)])
def users_deactivate(request: Request, engine: EngineDep, actor: CurrentUser, user_id: UserId) -> Response:
    return _set_active(request, engine, actor, user_id, False)
