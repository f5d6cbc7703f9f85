"""Project pages (项目库): the project list, one project, and allocation requests (资金安排申请).

Who sees what (DESIGN.md §1, §5; the services decide, the pages only show what they return):

- `project.read` (finance officer, approver, loan officer, inspector) opens the list (filters by
  status, industry and township, updated in place by htmx like the journal; exported whole, audited),
  a project's page (facts, status history, money by fund: allocated, spent, balance, spending progress,
  days idle) and the allocation requests. A township-scoped user sees its township's and county-wide
  projects only.
- The status buttons on a project's page are the moves `ledger.projects.moves_for` says the user may
  make (an approver approves and accepts projects it did not create; the finance officer moves them
  through implementing, completed and closed); each is a form with the session's CSRF token and a reason.
- `fund.allocate` (finance officer) prepares a request on /allocations; `fund.approve` (approver) sees
  approve and reject buttons on pending requests it did not prepare. The service refuses the preparer
  anyway (403), whatever a page shows.
- Projects and allocations sheets are uploaded on the import page (web.registry_pages), which offers
  each template to the users allowed to import it.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import EngineDep
from ledger import projects, services
from ledger.journal import LedgerRefusal
from ledger.models import ALLOCATION_STATUSES, PROJECT_INDUSTRIES, PROJECT_STATUSES
from ledger.money import MoneyError, parse_yuan_strict
from ledger.permissions import Actor, allowed
from web.deps import CurrentUser, csrf_protect, page_allowed
from web.i18n import N_
from web.i18n import gettext as _
from web.ledger_pages import (
    MAX_PAGE,
    PLAIN,
    clean,
    export_format,
    export_links,
    export_response,
    html_or_partial,
    pager,
    parse_date,
    url_with,
)
from web.problem_text import problem_message
from web.routes import render

router = APIRouter(include_in_schema=False)



STATUS_NAMES = {
    "planned": N_("Planned"), "approved": N_("Approved"), "implementing": N_("Being carried out"),
    "completed": N_("Completed"), "accepted": N_("Accepted"), "closed": N_("Project closed"),
}
# The button that moves a project to each status.
MOVE_NAMES = {
    "approved": N_("Approve the project"), "implementing": N_("Start carrying it out"),
    "completed": N_("Mark completed"), "accepted": N_("Accept the finished project"), "closed": N_("Close the project"),
}
# Industry keys are message ids themselves (translated in the catalogues: 玫瑰花, Rose, …).
INDUSTRY_NAMES = {
    "rose": N_("rose"), "grape": N_("grape"), "vegetable": N_("vegetable"), "marigold": N_("marigold"),
    "fungus": N_("fungus"), "sheep": N_("sheep"), "goose": N_("goose"), "pigeon": N_("pigeon"), "rabbit": N_("rabbit"),
    "hotan_sheep": N_("hotan_sheep"), "welfare_post": N_("welfare_post"), "interest_subsidy": N_("interest_subsidy"),
    "infrastructure": N_("infrastructure"), "other": N_("other"),
}
REQUEST_STATUS_NAMES = {"pending": N_("Awaiting approval"), "approved": N_("Approved and posted"),
                        "rejected": N_("Rejected")}
assert set(STATUS_NAMES) == set(PROJECT_STATUSES) and set(INDUSTRY_NAMES) == set(PROJECT_INDUSTRIES)
assert set(REQUEST_STATUS_NAMES) == set(ALLOCATION_STATUSES)

ShortText = Annotated[str | None, Query(max_length=64, pattern=PLAIN)]
PageParam = Annotated[int, Query(ge=1, le=MAX_PAGE)]
ProjectCode = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,63}$")]
RequestId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _labels() -> dict:
    return {"status_names": STATUS_NAMES, "industry_names": INDUSTRY_NAMES, "move_names": MOVE_NAMES,
            "request_status_names": REQUEST_STATUS_NAMES}


def _project_url(code: str) -> str:
    # Codes are ASCII letters, digits and _ . / - only (the path pattern): nothing to escape.
    return f"/projects/{code}"


# ---------------------------------------------------------------------------------------------
# The list


def _filter(status: str | None, industry: str | None, township: str | None, q: str | None
            ) -> tuple[projects.ProjectFilter, dict, list[str]]:
    problems: list[str] = []
    status, industry = clean(status), clean(industry)
    if status is not None and status not in PROJECT_STATUSES:
        problems.append(_("Unknown status."))
        status = None
    if industry is not None and industry not in PROJECT_INDUSTRIES:
        problems.append(_("Unknown industry."))
        industry = None
    f = projects.ProjectFilter(industry=industry, township=clean(township), status=status, q=clean(q))
    params = {"status": f.status, "industry": f.industry, "township": f.township, "q": f.q}
    return f, params, problems


@router.get("/projects", response_class=HTMLResponse)
def project_list(
    request: Request,
    engine: EngineDep,
    actor: CurrentUser,
    status: ShortText = None,
    industry: ShortText = None,
    township: ShortText = None,
    q: ShortText = None,
    page: PageParam = 1,
) -> Response:
    page_allowed(actor, "project.read")
    f, params, problems = _filter(status, industry, township, q)
    ctx: dict = {"params": params, "problems": problems, "statuses": PROJECT_STATUSES,
                 "industries": PROJECT_INDUSTRIES, "townships": projects.project_townships(engine, actor),
                 "exports": export_links("/projects/export", params),
                 "may_import": allowed(actor, "project.create"), **_labels()}
    if problems:
        ctx.update(result=None, pager=None)
        return html_or_partial(request, "projects.html", "partials/project_results.html", ctx, 422)
    result = projects.list_projects(engine, actor, f, page)
    ctx.update(result=result, pager=pager("/projects", params, result))
    return html_or_partial(request, "projects.html", "partials/project_results.html", ctx,
                           push_url=url_with("/projects", params, page=page if page > 1 else None))


@router.get("/projects/export")
def project_export(
    engine: EngineDep,
    actor: CurrentUser,
    format: Annotated[str, Query(max_length=8)] = "xlsx",
    status: ShortText = None,
    industry: ShortText = None,
    township: ShortText = None,
    q: ShortText = None,
) -> Response:
    page_allowed(actor, "project.read")
    fmt = export_format(format)
    f, _params, problems = _filter(status, industry, township, q)
    if problems:
        raise HTTPException(status_code=422, detail="; ".join(problems))
    name, data = projects.export_projects(engine, actor, f, fmt)
    return export_response(name, data, fmt)


# ---------------------------------------------------------------------------------------------
# One project


def _detail_page(request: Request, engine, actor: Actor, code: str, problems: list | None = None,
                 status_code: int = 200) -> Response:
    detail = projects.project_detail(engine, actor, code)
    if detail is None:
        raise HTTPException(status_code=404, detail="no such project")
    return render(request, "project.html", {
        "d": detail, "p": detail.project, "moves": projects.moves_for(actor, detail.project),
        "problems": problems or [], **_labels()}, status_code)


@router.get("/projects/{code:path}", response_class=HTMLResponse)
def project_page(request: Request, engine: EngineDep, actor: CurrentUser, code: ProjectCode) -> Response:
    page_allowed(actor, "project.read")
    return _detail_page(request, engine, actor, code)


@router.post("/projects/{code:path}/status", response_class=HTMLResponse, dependencies=[Depends(csrf_protect)])
def project_move(
    request: Request,
    engine: EngineDep,
    actor: CurrentUser,
    code: ProjectCode,
    to_status: Annotated[str, Form(max_length=16)],
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    page_allowed(actor, "project.read")
    if projects.project_detail(engine, actor, code) is None:
        raise HTTPException(status_code=404, detail="no such project")
    try:
        projects.change_project_status(engine, actor, code, to_status, reason)
    except LedgerRefusal as exc:
        return _detail_page(request, engine, actor, code, exc.problems, 422)
    return RedirectResponse(_project_url(code), status_code=303)


# ---------------------------------------------------------------------------------------------
# Allocation requests


def _requests_context(engine, actor: Actor, status: str | None, project: str | None, page: int,
                      problems: list | None = None, form: dict | None = None) -> dict:
    params = {"status": status, "project": project}
    result = projects.list_requests(engine, actor, status, project, page)
    ctx: dict = {"params": params, "result": result, "pager": pager("/allocations", params, result),
                 "problems": problems or [], "statuses": ALLOCATION_STATUSES,
                 "may_approve": allowed(actor, "fund.approve"), "may_prepare": allowed(actor, "fund.allocate"),
                 "me": actor.username, **_labels()}
    if ctx["may_prepare"]:
        receiving = []
        for st in projects.RECEIVING:
            receiving += projects.list_projects(engine, actor, projects.ProjectFilter(status=st), 1, 200).items
        _kinds, funds = services.journal_choices(engine, actor)
        # A fresh key per form: submitting the same form twice prepares one request, not two.
        ctx.update(receiving=sorted(receiving, key=lambda p: p.code), funds=funds,
                   form=form or {"key": "web-" + secrets.token_hex(10)})
    return ctx


@router.get("/allocations", response_class=HTMLResponse)
def allocation_list(request: Request, engine: EngineDep, actor: CurrentUser, status: ShortText = None,
                    project: ShortText = None, page: PageParam = 1) -> Response:
    page_allowed(actor, "project.read")
    status = clean(status)
    if status is not None and status not in ALLOCATION_STATUSES:
        raise HTTPException(status_code=422, detail="unknown status")
    ctx = _requests_context(engine, actor, status, clean(project), page)
    return html_or_partial(request, "allocations.html", "partials/allocation_results.html", ctx,
                           push_url=url_with("/allocations", ctx["params"], page=page if page > 1 else None))


@router.post("/allocations", response_class=HTMLResponse, dependencies=[Depends(csrf_protect)])
def allocation_prepare(
    request: Request,
    engine: EngineDep,
    actor: CurrentUser,
    key: Annotated[str, Form(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")],
    project_code: Annotated[str, Form(max_length=64)],
    fund: Annotated[str, Form(max_length=64)],
    amount: Annotated[str, Form(max_length=32)],
    allocate_on: Annotated[str, Form(max_length=32)],
    memo: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    page_allowed(actor, "fund.allocate")
    form = {"key": key, "project_code": project_code, "fund": fund, "amount": amount, "allocate_on": allocate_on,
            "memo": memo}
    problems: list[str] = []
    day = parse_date(allocate_on, _("Allocation date"), problems)
    if day is None and not problems:
        problems.append(_("The allocation date is missing."))
    try:
        fen = parse_yuan_strict(amount.strip())
    except MoneyError:
        fen = None
        problems.append(_("The amount must be yuan with at most two decimals, e.g. 1234.50."))
    if not problems:
        try:
            projects.prepare_allocation(engine, actor, key, project_code.strip(), fund.strip(), fen, day, memo)
        except LedgerRefusal as exc:
            problems = [problem_message(p.message) for p in exc.problems]
    if problems:
        ctx = _requests_context(engine, actor, None, None, 1, problems, form)
        return render(request, "allocations.html", ctx, 422)
    return RedirectResponse("/allocations?status=pending", status_code=303)


def _decide(request: Request, engine, actor: Actor, request_id: int, decide) -> Response:
    page_allowed(actor, "fund.approve")
    if projects.get_request(engine, actor, request_id) is None:
        raise HTTPException(status_code=404, detail="no such allocation request")
    try:
        decide()
    except LedgerRefusal as exc:
        ctx = _requests_context(engine, actor, "pending", None, 1, [problem_message(p.message) for p in exc.problems])
        return render(request, "allocations.html", ctx, 422)
    return RedirectResponse("/allocations?status=pending", status_code=303)


@router.post("/allocations/{request_id}/approve", response_class=HTMLResponse, dependencies=[Depends(csrf_protect)])
def allocation_approve(request: Request, engine: EngineDep, actor: CurrentUser, request_id: RequestId) -> Response:
    return _decide(request, engine, actor, request_id,
                   lambda: projects.approve_request(engine, actor, request_id))


@router.post("/allocations/{request_id}/reject", response_class=HTMLResponse, dependencies=[Depends(csrf_protect)])
def allocation_reject(request: Request, engine: EngineDep, actor: CurrentUser, request_id: RequestId,
                      reason: Annotated[str, Form(max_length=500)] = "") -> Response:
    return _decide(request, engine, actor, request_id,
                   lambda: projects.reject_request(engine, actor, request_id, reason))
