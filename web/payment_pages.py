"""Payment batch pages (发放批次 / 清册), the public notice (公示) and the household statement export.

Who sees what (DESIGN.md §1, §5; ledger.payments decides, the pages only show what it returns):

- `payment.read` (finance officer, approver, inspector) opens the batch list (filters by status,
  purpose and project, updated in place by htmx like the journal; exported whole, audited) and a
  batch's page: its header (declared against actual count and sum, disclosure dates, preparer, decider,
  history and re-issue marks) and its rows, paged. Resident ID and account numbers on the rows are
  masked for the roles the registry pages mask them for (web.masking).
- The buttons are the ones the user's role and the batch's state allow, each a POST form with the
  session's CSRF token: 发布公示 (finance officer, a draft household batch), 审核通过 / 驳回
  (an approver who did not prepare the batch; the service refuses the preparer anyway), 重新发放 of
  selected failed rows (finance officer). A refusal is shown on the batch's page with every problem.
- The public notice needs no sign-in: /public/notices lists the batches on the board today and
  /public/notices/{batch_no} shows one as ledger.payments.public_notice returns it, already masked
  (no page here ever has the full numbers to leak). It prints cleanly for the village notice board
  (web/static/notice.css, @media print; the print button is web/static/notice.js: our CSP runs no
  inline script).
- Payment rolls and bank return files are uploaded on the import page (web.registry_pages).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import StringConstraints

from api.deps import EngineDep
from api.schemas import MAX_DISCLOSURE_BACKDATE_DAYS
from ledger import payment_exports, payments
from ledger.entries import Problem
from ledger.journal import LedgerRefusal
from ledger.models import BATCH_STATUSES, PAYMENT_PURPOSES
from ledger.permissions import Actor, allowed
from ledger.users import SessionView
from web.deps import CurrentUser, csrf_protect, optional_session, page_allowed
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
from web.masking import account_shower, id_shower
from web.routes import render

router = APIRouter(include_in_schema=False)



PURPOSE_NAMES = {"subsidy": N_("Industry subsidy"), "wage": N_("Public-welfare-post wage"),
                 "in_kind": N_("Delivered in kind"), "advance": N_("Advance to the implementer")}
BATCH_STATUS_NAMES = {"draft": N_("Draft"), "disclosed": N_("Being disclosed (公示)"),
                      "posted": N_("Approved and posted"), "rejected": N_("Rejected")}
ROW_STATUS_NAMES = {"pending": N_("Awaiting approval"), "posted": N_("Posted, awaiting the bank"),
                    "paid": N_("Paid"), "failed": N_("Returned by the bank (退票)"), "rejected": N_("Rejected")}
assert set(PURPOSE_NAMES) == set(PAYMENT_PURPOSES) and set(BATCH_STATUS_NAMES) == set(BATCH_STATUSES)
assert set(ROW_STATUS_NAMES) == set(payments.ROW_STATUS_NAMES_ZH)

# A batch number is any code an officer's sheet may hold (ledger.imports: no spaces, at most 64
# characters), so it may contain '/' or '%': links quote it whole and the routes take it as a path.
BatchNo = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[^\s\x00-\x1f\x7f]+$")]
HouseholdNo = Annotated[str, Path(max_length=32, pattern=r"^[0-9A-Za-z][0-9A-Za-z-]{0,31}$")]
ShortText = Annotated[str | None, Query(max_length=64, pattern=PLAIN)]
PageParam = Annotated[int, Query(ge=1, le=MAX_PAGE)]
MAX_REISSUE_ROWS = 200  # one page of rows: what an officer can tick on screen
RefText = Annotated[str, StringConstraints(max_length=64)]


def batch_url(batch_no: str) -> str:
    return "/payments/" + quote(batch_no, safe="")


def notice_url(batch_no: str) -> str:
    return "/public/notices/" + quote(batch_no, safe="")


def _labels() -> dict:
    return {"purpose_names": PURPOSE_NAMES, "batch_status_names": BATCH_STATUS_NAMES,
            "row_status_names": ROW_STATUS_NAMES, "batch_url": batch_url, "notice_url": notice_url}


def statement_labels() -> dict:
    """What partials/household_statement.html needs (the household page, web.registry_pages, includes it)."""
    return {"payment_purpose_names": PURPOSE_NAMES, "payment_row_status_names": ROW_STATUS_NAMES,
            "payment_batch_url": batch_url}


# ---------------------------------------------------------------------------------------------
# The list


def _filter(status: str | None, purpose: str | None, project: str | None
            ) -> tuple[payments.BatchFilter, dict, list[str]]:
    problems: list[str] = []
    status, purpose = clean(status), clean(purpose)
    if status is not None and status not in BATCH_STATUSES:
        problems.append(_("Unknown status."))
        status = None
    if purpose is not None and purpose not in PAYMENT_PURPOSES:
        problems.append(_("Unknown purpose."))
        purpose = None
    f = payments.BatchFilter(status=status, project=clean(project), purpose=purpose)
    return f, {"status": f.status, "purpose": f.purpose, "project": f.project}, problems


@router.get("/payments", response_class=HTMLResponse)
def batch_list(
    request: Request,
    engine: EngineDep,
    actor: CurrentUser,
    status: ShortText = None,
    purpose: ShortText = None,
    project: ShortText = None,
    page: PageParam = 1,
) -> Response:
    page_allowed(actor, "payment.read")
    f, params, problems = _filter(status, purpose, project)
    ctx: dict = {"params": params, "problems": problems, "statuses": BATCH_STATUSES, "purposes": PAYMENT_PURPOSES,
                 "exports": export_links("/payments/export", params),
                 "may_import": allowed(actor, "payment.prepare"), **_labels()}
    if problems:
        ctx.update(result=None, pager=None)
        return html_or_partial(request, "payments.html", "partials/payment_results.html", ctx, 422)
    result = payments.list_batches(engine, actor, f, page)
    ctx.update(result=result, pager=pager("/payments", params, result))
    return html_or_partial(request, "payments.html", "partials/payment_results.html", ctx,
                           push_url=url_with("/payments", params, page=page if page > 1 else None))


@router.get("/payments/export")
def batch_export(
    engine: EngineDep,
    actor: CurrentUser,
    format: Annotated[str, Query(max_length=8)] = "xlsx",
    status: ShortText = None,
    purpose: ShortText = None,
    project: ShortText = None,
) -> Response:
    page_allowed(actor, "payment.read")
    fmt = export_format(format)
    f, _params, problems = _filter(status, purpose, project)
    if problems:
        raise HTTPException(status_code=422, detail="; ".join(problems))
    name, data = payment_exports.export_batches(engine, actor, f, fmt)
    return export_response(name, data, fmt)


# ---------------------------------------------------------------------------------------------
# One batch


def _actions(actor: Actor, b: payments.BatchView, today: dt.date) -> dict:
    """What the page offers this user on this batch now. The service checks every one again."""
    open_ = b.status in ("draft", "disclosed")
    needs_disclosure = b.purpose in payments.HOUSEHOLD_PURPOSES and not b.is_reissue and not b.is_history
    # Four eyes: whoever prepared a batch never sees its decision buttons (nor may use them).
    decider = allowed(actor, "payment.approve") and b.prepared_by != actor.username and open_
    waiting = needs_disclosure and (b.status != "disclosed" or (b.disclosure_until or today) > today)
    return {
        "may_disclose": allowed(actor, "payment.disclose") and b.status == "draft" and needs_disclosure,
        "may_approve": decider and not waiting,
        "approve_waiting": decider and waiting,
        "may_reject": decider,
        "may_reissue": allowed(actor, "payment.prepare") and b.failed_count > 0,
    }


def _detail_context(engine, actor: Actor, batch_no: str, page: int) -> dict:
    detail = payments.batch_detail(engine, actor, batch_no, page)
    if detail is None:
        raise HTTPException(status_code=404, detail="no such batch")
    today = dt.date.today()
    b = detail.batch
    return {"b": b, "rows": detail.rows, "pager": pager(batch_url(batch_no), {}, detail.rows),
            "show_id": id_shower(actor), "show_account": account_shower(actor), "today": today,
            "min_days": payments.disclosure_days_minimum(),
            "earliest_start": today - dt.timedelta(days=MAX_DISCLOSURE_BACKDATE_DAYS),
            "reissue_no": f"{batch_no}-R"[:64], "problems": [], "form": {}, **_actions(actor, b, today), **_labels()}


def _detail_page(request: Request, engine, actor: Actor, batch_no: str, page: int = 1,
                 problems: list[Problem] | None = None, form: dict | None = None, status_code: int = 200) -> Response:
    ctx = _detail_context(engine, actor, batch_no, page)
    ctx.update(problems=problems or [], form=form or {})
    return html_or_partial(request, "payment_batch.html", "partials/payment_rows.html", ctx, status_code,
                           push_url=url_with(batch_url(batch_no), {}, page=page if page > 1 else None)
                           if not problems else None)


@router.get("/payments/{batch_no:path}", response_class=HTMLResponse)
def batch_page(request: Request, engine: EngineDep, actor: CurrentUser, batch_no: BatchNo,
               page: PageParam = 1) -> Response:
    page_allowed(actor, "payment.read")
    return _detail_page(request, engine, actor, batch_no, page)


def _known(engine, actor: Actor, batch_no: str) -> None:
    # 404 before anything else for a batch this user cannot read (not "refused": nothing to refuse).
    if payments.batch_detail(engine, actor, batch_no, 1, 1) is None:
        raise HTTPException(status_code=404, detail="no such batch")


def _refused(request: Request, engine, actor: Actor, batch_no: str, problems: list[Problem],
             form: dict | None = None) -> Response:
    return _detail_page(request, engine, actor, batch_no, problems=problems, form=form, status_code=422)


def _field_problem(field: str, value: str, message: str) -> Problem:
    return Problem("form", field, value[:100], message)


@router.post("/payments/{batch_no:path}/disclosure", response_class=HTMLResponse,
             dependencies=[Depends(csrf_protect)])
def batch_disclose(
    request: Request,
    engine: EngineDep,
    actor: CurrentUser,
    batch_no: BatchNo,
    days: Annotated[str, Form(max_length=8)] = "",
    start_on: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    page_allowed(actor, "payment.disclose")
    _known(engine, actor, batch_no)
    form = {"days": days, "start_on": start_on}
    problems: list[Problem] = []
    today = dt.date.today()
    n_days: int | None = None
    if days.strip():
        if days.strip().isdigit() and int(days) <= 365:
            n_days = int(days)
        else:
            problems.append(_field_problem("days", days, _("The number of days must be a whole number.")))
    messages: list[str] = []
    on = parse_date(start_on, _("Disclosure start"), messages) or today
    problems += [_field_problem("start_on", start_on, m) for m in messages]
    # An officer may record a notice that went up on the village board on paper a few days ago; a
    # notice dated further back (or in the future) would let a batch skip its real disclosure days.
    if not messages and not (today - dt.timedelta(days=MAX_DISCLOSURE_BACKDATE_DAYS) <= on <= today):
        problems.append(_field_problem("start_on", start_on, _(
            "The disclosure starts today or on a day in the last %(n)s days.") % {"n": MAX_DISCLOSURE_BACKDATE_DAYS}))
    if problems:
        return _refused(request, engine, actor, batch_no, problems, form)
    try:
        payments.disclose_batch(engine, actor, batch_no, on, n_days)
    except LedgerRefusal as exc:
        return _refused(request, engine, actor, batch_no, exc.problems, form)
    return RedirectResponse(batch_url(batch_no), status_code=303)


@router.post("/payments/{batch_no:path}/approve", response_class=HTMLResponse, dependencies=[Depends(csrf_protect)])
def batch_approve(request: Request, engine: EngineDep, actor: CurrentUser, batch_no: BatchNo) -> Response:
    page_allowed(actor, "payment.approve")
    _known(engine, actor, batch_no)
    try:
        payments.approve_batch(engine, actor, batch_no)  # PermissionDenied (the preparer) -> 403 page
    except LedgerRefusal as exc:
        return _refused(request, engine, actor, batch_no, exc.problems)
    return RedirectResponse(batch_url(batch_no), status_code=303)


@router.post("/payments/{batch_no:path}/reject", response_class=HTMLResponse, dependencies=[Depends(csrf_protect)])
def batch_reject(request: Request, engine: EngineDep, actor: CurrentUser, batch_no: BatchNo,
                 reason: Annotated[str, Form(max_length=payments.MAX_REASON_LEN)] = "") -> Response:
    page_allowed(actor, "payment.approve")
    _known(engine, actor, batch_no)
    try:
        payments.reject_batch(engine, actor, batch_no, reason)
    except LedgerRefusal as exc:
        return _refused(request, engine, actor, batch_no, exc.problems, {"reason": reason})
    return RedirectResponse(batch_url(batch_no), status_code=303)


@router.post("/payments/{batch_no:path}/reissue", response_class=HTMLResponse, dependencies=[Depends(csrf_protect)])
def batch_reissue(
    request: Request,
    engine: EngineDep,
    actor: CurrentUser,
    batch_no: BatchNo,
    new_batch_no: Annotated[str, Form(max_length=64)] = "",
    paid_on: Annotated[str, Form(max_length=32)] = "",
    refs: Annotated[list[RefText] | None, Form(max_length=MAX_REISSUE_ROWS)] = None,
    memo: Annotated[str, Form(max_length=payments.MAX_MEMO_LEN)] = "",
) -> Response:
    page_allowed(actor, "payment.prepare")
    _known(engine, actor, batch_no)
    form = {"new_batch_no": new_batch_no, "paid_on": paid_on, "memo": memo, "refs": refs or []}
    problems: list[Problem] = []
    new_no = new_batch_no.strip()
    if not new_no or len(new_no) > 64 or any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in new_no):
        problems.append(_field_problem("new_batch_no", new_batch_no, _(
            "The new batch number is required: at most 64 characters, no spaces.")))
    messages: list[str] = []
    day = parse_date(paid_on, _("Payment date"), messages) or dt.date.today()
    problems += [_field_problem("paid_on", paid_on, m) for m in messages]
    chosen = [r.strip() for r in refs or [] if r.strip()]
    if not chosen:
        problems.append(_field_problem("refs", "", _("Tick the failed payments to pay again.")))
    if problems:
        return _refused(request, engine, actor, batch_no, problems, form)
    try:
        payments.reissue(engine, actor, new_no, chosen, day, memo)
    except LedgerRefusal as exc:
        return _refused(request, engine, actor, batch_no, exc.problems, form)
    return RedirectResponse(batch_url(new_no), status_code=303)


# ---------------------------------------------------------------------------------------------
# The household statement (the section itself is on the household page, web.registry_pages)


@router.get("/registry/households/{household_no}/statement/export")
def statement_export(engine: EngineDep, actor: CurrentUser, household_no: HouseholdNo,
                     format: Annotated[str, Query(max_length=8)] = "xlsx") -> Response:
    page_allowed(actor, "registry.read")
    page_allowed(actor, "payment.read")
    fmt = export_format(format)
    out = payment_exports.export_statement(engine, actor, household_no, fmt)
    if out is None:
        raise HTTPException(status_code=404, detail="no such household")
    name, data = out
    return export_response(name, data, fmt)


# ---------------------------------------------------------------------------------------------
# 公示: the public notice board, no sign-in


OptionalSession = Annotated[SessionView | None, Depends(optional_session)]


def _last_day(disclosure_until: dt.date | None) -> dt.date | None:
    # ledger.payments stores the first day a batch may be approved; the board shows the last day it hangs.
    return None if disclosure_until is None else disclosure_until - dt.timedelta(days=1)


@router.get("/public/notices", response_class=HTMLResponse)
def public_notice_list(request: Request, engine: EngineDep, _view: OptionalSession) -> Response:
    today = dt.date.today()
    notices = [{"b": b, "last_day": _last_day(b.disclosure_until)} for b in payments.public_notices(engine, today)]
    ended = [{"b": b, "last_day": _last_day(b.disclosure_until)}
             for b in payments.recent_public_notices(engine, today)]
    return render(request, "public_notices.html", {"notices": notices, "ended": ended, "today": today,
                                                   "recent_days": payments.RECENT_NOTICE_DAYS, **_labels()})


@router.get("/public/notices/{batch_no:path}", response_class=HTMLResponse)
def public_notice_page(request: Request, engine: EngineDep, _view: OptionalSession, batch_no: BatchNo) -> Response:
    notice = payments.public_notice(engine, batch_no)
    if notice is None:
        raise HTTPException(status_code=404, detail="no such notice")
    return render(request, "public_notice.html", {"n": notice, "last_day": _last_day(notice.disclosure_until),
                                                  **_labels()})
