"""Ledger pages: journal, entry, trial balance, account statement, verification status, exports.

Each route takes its actor from the session, checks the page permission (for a clean 403 page)
and calls one service, which checks again. Lists are paged; an htmx request (the filter form,
the pager) gets only the results partial. Amounts reach the templates as integer fen and are
shown with the `money` filters; anything computed (debit/credit columns, totals) comes from
ledger.reports, never from a template.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import EngineDep
from ledger import queries, reports, services
from ledger.permissions import Actor, allowed
from web.deps import CurrentUser, csrf_protect, page_allowed
from web.i18n import N_
from web.i18n import gettext as _
from web.routes import render

router = APIRouter(include_in_schema=False)



# Keys that templates show through `_(key)`: roles, entry kinds, account types, entry statuses.
# Listed so that `pybabel extract` finds them and the catalogue must translate each one.
LABEL_KEYS = (
    N_("finance_officer"), N_("approver"), N_("loan_officer"), N_("inspector"), N_("admin"), N_("system"),
    N_("fund_received"), N_("allocation"), N_("reallocation"), N_("fund_redesignation"), N_("subsidy_paid"),
    N_("wage_paid"), N_("advance_paid"), N_("in_kind_delivered"), N_("loan_disbursed"), N_("interest_due"),
    N_("repayment"), N_("interest_subsidy"), N_("risk_fund_deposit"), N_("default_compensated"), N_("recovery"),
    N_("opening_balance"), N_("migrated"), N_("reversal"),
    N_("asset"), N_("liability"), N_("equity"), N_("income"), N_("expense"),
    N_("posted"), N_("pending"),
)

MAX_SEQ = 2**31 - 1
MAX_PAGE = 1_000_000
TRIAL_BALANCE_PAGE_SIZE = 100
MEDIA_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}

# No control characters in any text that reaches a query: PostgreSQL refuses NUL in text.
PLAIN = r"^[^\x00-\x1f\x7f]*$"
PageParam = Annotated[int, Query(ge=1, le=MAX_PAGE)]
ShortText = Annotated[str | None, Query(max_length=64, pattern=PLAIN)]
AccountText = Annotated[str | None, Query(max_length=200, pattern=PLAIN)]
DateText = Annotated[str | None, Query(max_length=32, pattern=PLAIN)]


# ---------------------------------------------------------------------------------------------
# Helpers shared with web.admin_pages


def is_htmx(request: Request) -> bool:
    """An htmx swap wants the partial; a history restore (back button, cache miss) wants the page."""
    return bool(request.headers.get("hx-request")) and not request.headers.get("hx-history-restore-request")


def url_with(path: str, params: Mapping[str, object], **changes: object) -> str:
    """`path?query` from the non-empty params, with some changed (None or '' drops one)."""
    merged = {**params, **changes}
    items = [(k, str(v)) for k, v in merged.items() if v is not None and v != ""]
    return path + ("?" + urlencode(items) if items else "")


def pager(path: str, params: Mapping[str, object], page: queries.Page) -> dict:
    """Links for a paged list: first/previous/next/last, None where there is none."""
    last = page.pages

    def link(n: int) -> str:
        return url_with(path, params, page=None if n == 1 else n)

    return {
        "page": page.page, "pages": last, "total": page.total,
        "first_url": link(1) if page.page > 1 else None,
        "prev_url": link(page.page - 1) if page.page > 1 else None,
        "next_url": link(page.page + 1) if page.page < last else None,
        "last_url": link(last) if page.page < last else None,
    }


def export_links(path: str, params: Mapping[str, object]) -> dict:
    return {fmt: url_with(path, params, format=fmt, page=None) for fmt in services.EXPORT_FORMATS}


def parse_date(text: str | None, label: str, problems: list[str]) -> dt.date | None:
    """A date typed by an officer (YYYY-MM-DD from a date input); a wrong one becomes a problem."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = dt.date.fromisoformat(text)
    except ValueError:
        problems.append(_("%(field)s is not a date (YYYY-MM-DD).") % {"field": label})
        return None
    if not (1900 <= value.year <= 2999):
        problems.append(_("%(field)s is out of range.") % {"field": label})
        return None
    return value


def check_range(date_from: dt.date | None, date_to: dt.date | None, problems: list[str]) -> None:
    if date_from and date_to and date_from > date_to:
        problems.append(_("The start date is after the end date."))


def clean(text: str | None) -> str | None:
    text = (text or "").strip()
    return text or None


def export_response(name: str, data: bytes, fmt: str) -> Response:
    """A download: attachment with an RFC 5987 file name (ASCII fallback plus UTF-8 form)."""
    ascii_name = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_" for c in name)
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
    return Response(content=data, media_type=MEDIA_TYPES[fmt], headers={"Content-Disposition": disposition})


def export_format(fmt: str) -> str:
    if fmt not in services.EXPORT_FORMATS:
        raise HTTPException(status_code=422, detail="format must be xlsx or csv")
    return fmt


def html_or_partial(request: Request, page: str, partial: str, context: dict, status_code: int = 200,
                    push_url: str | None = None) -> Response:
    """The whole page, or (htmx) the results partial with 200 so htmx swaps it even when it shows a
    problem. `push_url` is the canonical address of what is shown (no empty filters) for the history."""
    if is_htmx(request):
        resp = render(request, partial, context, 200)
        if push_url:
            resp.headers["HX-Push-Url"] = push_url
        return resp
    return render(request, page, context, status_code)


def _require_journal(actor: Actor) -> None:
    page_allowed(actor, "journal.read")


# ---------------------------------------------------------------------------------------------
# Journal


def _journal_filter(date_from: str | None, date_to: str | None, kind: str | None, account: str | None,
                    fund: str | None) -> tuple[queries.JournalFilter, dict, list[str]]:
    problems: list[str] = []
    d_from = parse_date(date_from, _("From"), problems)
    d_to = parse_date(date_to, _("To"), problems)
    check_range(d_from, d_to, problems)
    f = queries.JournalFilter(date_from=d_from, date_to=d_to, kind=clean(kind), account=clean(account),
                              fund=clean(fund))
    params = {"date_from": d_from.isoformat() if d_from else None, "date_to": d_to.isoformat() if d_to else None,
              "kind": f.kind, "account": f.account, "fund": f.fund}
    return f, params, problems


@router.get("/journal", response_class=HTMLResponse)
def journal(
    request: Request,
    engine: EngineDep,
    actor: CurrentUser,
    date_from: DateText = None,
    date_to: DateText = None,
    kind: ShortText = None,
    account: AccountText = None,
    fund: ShortText = None,
    page: PageParam = 1,
) -> Response:
    _require_journal(actor)
    f, params, problems = _journal_filter(date_from, date_to, kind, account, fund)
    kinds, funds = services.journal_choices(engine, actor)
    ctx: dict = {"params": params, "kinds": kinds, "funds": funds, "problems": problems,
                 "exports": export_links("/journal/export", params)}
    if problems:
        ctx.update(result=None, pager=None)
        return html_or_partial(request, "journal.html", "partials/journal_results.html", ctx, 422)
    result = services.journal_page(engine, actor, f, page)
    ctx.update(result=result, pager=pager("/journal", params, result))
    return html_or_partial(request, "journal.html", "partials/journal_results.html", ctx,
                           push_url=url_with("/journal", params, page=page if page > 1 else None))


@router.get("/journal/export")
def journal_export(
    engine: EngineDep,
    actor: CurrentUser,
    format: Annotated[str, Query(max_length=8)] = "xlsx",
    date_from: DateText = None,
    date_to: DateText = None,
    kind: ShortText = None,
    account: AccountText = None,
    fund: ShortText = None,
) -> Response:
    page_allowed(actor, "journal.export")
    fmt = export_format(format)
    f, _params, problems = _journal_filter(date_from, date_to, kind, account, fund)
    if problems:
        raise HTTPException(status_code=422, detail="; ".join(problems))
    name, data = services.export_list(engine, actor, "journal", fmt, {"filter": f})
    return export_response(name, data, fmt)


@router.get("/journal/{seq}", response_class=HTMLResponse)
def entry(request: Request, engine: EngineDep, actor: CurrentUser,
          seq: Annotated[int, Path(ge=1, le=MAX_SEQ)]) -> Response:
    _require_journal(actor)
    detail = services.entry_detail(engine, actor, seq)
    if detail is None:
        raise HTTPException(status_code=404, detail="no such entry")
    postings = []
    for p in detail.postings:
        debit, credit = reports.split_debit_credit(p.amount_fen)
        postings.append({"line": p, "debit_fen": debit, "credit_fen": credit})
    return render(request, "entry.html", {
        "e": detail, "row": detail.row, "postings": postings, "totals": reports.entry_totals(detail.postings),
    })


# ---------------------------------------------------------------------------------------------
# Trial balance


@router.get("/trial-balance", response_class=HTMLResponse)
def trial_balance(request: Request, engine: EngineDep, actor: CurrentUser, as_of: DateText = None,
                  page: PageParam = 1) -> Response:
    _require_journal(actor)
    problems: list[str] = []
    day = parse_date(as_of, _("As of"), problems)
    params = {"as_of": day.isoformat() if day else None}
    ctx: dict = {"params": params, "problems": problems, "as_of": day, "today": dt.date.today(),
                 "exports": export_links("/trial-balance/export", params)}
    if problems:
        ctx.update(rows=[], totals=None, pager=None)
        return html_or_partial(request, "trial_balance.html", "partials/trial_balance_results.html", ctx, 422)
    all_rows = services.trial_balance(engine, actor, day)
    totals = reports.trial_balance_totals(all_rows)
    size = TRIAL_BALANCE_PAGE_SIZE
    paged = queries.Page([], len(all_rows), page, size)
    page = min(page, paged.pages)
    paged = queries.Page(all_rows[(page - 1) * size: page * size], len(all_rows), page, size)
    rows = []
    for r in paged.items:
        debit, credit = reports.split_debit_credit(r.balance_fen)
        rows.append({"row": r, "debit_fen": debit, "credit_fen": credit,
                     "statement_url": url_with(f"/accounts/{quote(r.account, safe=':')}/statement", {},
                                               fund=r.fund, date_to=params["as_of"])})
    ctx.update(rows=rows, totals=totals, pager=pager("/trial-balance", params, paged))
    return html_or_partial(request, "trial_balance.html", "partials/trial_balance_results.html", ctx,
                           push_url=url_with("/trial-balance", params, page=page if page > 1 else None))


@router.get("/trial-balance/export")
def trial_balance_export(engine: EngineDep, actor: CurrentUser,
                         format: Annotated[str, Query(max_length=8)] = "xlsx", as_of: DateText = None) -> Response:
    page_allowed(actor, "journal.export")
    fmt = export_format(format)
    problems: list[str] = []
    day = parse_date(as_of, _("As of"), problems)
    if problems:
        raise HTTPException(status_code=422, detail="; ".join(problems))
    name, data = services.export_list(engine, actor, "trial_balance", fmt, {"as_of": day})
    return export_response(name, data, fmt)


# ---------------------------------------------------------------------------------------------
# Fund sources


@router.get("/funds", response_class=HTMLResponse)
def funds(request: Request, engine: EngineDep, actor: CurrentUser) -> Response:
    _require_journal(actor)
    sources = services.fund_sources(engine, actor)
    total = reports.fund_source_totals(sources)
    return render(request, "funds.html", {"sources": sources, "total": total,
                                          "exports": export_links("/funds/export", {})})


@router.get("/funds/export")
def funds_export(engine: EngineDep, actor: CurrentUser,
                 format: Annotated[str, Query(max_length=8)] = "xlsx") -> Response:
    page_allowed(actor, "journal.export")
    fmt = export_format(format)
    name, data = services.export_list(engine, actor, "funds", fmt, {})
    return export_response(name, data, fmt)


# ---------------------------------------------------------------------------------------------
# Account statement


AccountCode = Annotated[str, Path(min_length=1, max_length=200, pattern=PLAIN)]


def _statement_params(fund: str | None, date_from: str | None, date_to: str | None
                      ) -> tuple[dict, list[str], dt.date | None, dt.date | None]:
    problems: list[str] = []
    d_from = parse_date(date_from, _("From"), problems)
    d_to = parse_date(date_to, _("To"), problems)
    check_range(d_from, d_to, problems)
    params = {"fund": clean(fund), "date_from": d_from.isoformat() if d_from else None,
              "date_to": d_to.isoformat() if d_to else None}
    return params, problems, d_from, d_to


@router.get("/accounts/{code}/statement", response_class=HTMLResponse)
def statement(
    request: Request,
    engine: EngineDep,
    actor: CurrentUser,
    code: AccountCode,
    fund: ShortText = None,
    date_from: DateText = None,
    date_to: DateText = None,
    page: PageParam = 1,
) -> Response:
    _require_journal(actor)
    params, problems, d_from, d_to = _statement_params(fund, date_from, date_to)
    path = f"/accounts/{quote(code, safe=':')}/statement"
    ctx: dict = {"code": code, "path": path, "params": params, "problems": problems,
                 "exports": export_links(path + "/export", params)}
    if problems:
        _kinds, funds = services.journal_choices(engine, actor)
        ctx.update(st=None, lines=[], pager=None, funds=funds)
        return html_or_partial(request, "statement.html", "partials/statement_results.html", ctx, 422)
    st = services.account_statement(engine, actor, code, params["fund"], d_from, d_to, page)
    if st is None:
        raise HTTPException(status_code=404, detail="no such account")
    lines = []
    for ln in st.lines.items:
        debit, credit = reports.split_debit_credit(ln.amount_fen)
        lines.append({"line": ln, "debit_fen": debit, "credit_fen": credit})
    ctx.update(st=st, lines=lines, funds=sorted(st.account.balances), pager=pager(path, params, st.lines))
    return html_or_partial(request, "statement.html", "partials/statement_results.html", ctx,
                           push_url=url_with(path, params, page=page if page > 1 else None))


@router.get("/accounts/{code}/statement/export")
def statement_export(
    engine: EngineDep,
    actor: CurrentUser,
    code: AccountCode,
    format: Annotated[str, Query(max_length=8)] = "xlsx",
    fund: ShortText = None,
    date_from: DateText = None,
    date_to: DateText = None,
) -> Response:
    page_allowed(actor, "journal.export")
    fmt = export_format(format)
    params, problems, d_from, d_to = _statement_params(fund, date_from, date_to)
    if problems:
        raise HTTPException(status_code=422, detail="; ".join(problems))
    if services.account_statement(engine, actor, code, page_size=1) is None:
        raise HTTPException(status_code=404, detail="no such account")
    name, data = services.export_list(engine, actor, "statement", fmt, {
        "code": code, "fund": params["fund"], "date_from": d_from, "date_to": d_to})
    return export_response(name, data, fmt)


# ---------------------------------------------------------------------------------------------
# Verification


def _may_see_chain(actor: Actor) -> None:
    if not (allowed(actor, "journal.read") or allowed(actor, "journal.verify")):
        raise HTTPException(status_code=403, detail="forbidden")


def _verify_context(engine, actor: Actor, result=None) -> dict:
    status = services.chain_status(engine, actor)
    return {"status": status, "result": result, "digest": f"{status.head_seq}:{status.head_hash}",
            "may_verify": allowed(actor, "journal.verify")}


@router.get("/verify", response_class=HTMLResponse)
def verify_page(request: Request, engine: EngineDep, actor: CurrentUser) -> Response:
    _may_see_chain(actor)
    return render(request, "verify.html", _verify_context(engine, actor))


@router.post("/verify", response_class=HTMLResponse, dependencies=[Depends(csrf_protect)])
def verify_run(request: Request, engine: EngineDep, actor: CurrentUser) -> Response:
    page_allowed(actor, "journal.verify")
    result = services.verify_journal(engine, actor)
    if is_htmx(request):
        return render(request, "partials/verify_status.html", _verify_context(engine, actor, result))
    return RedirectResponse("/verify", status_code=303)


# A tiny icon, so browsers asking for /favicon.ico get one instead of a 404 in their console.
_FAVICON = (b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
            b'<rect width="16" height="16" rx="3" fill="#b42318"/><rect x="4" y="7" width="8" height="2" fill="#fff"/>'
            b'<rect x="7" y="4" width="2" height="8" fill="#fff"/></svg>')


@router.get("/favicon.ico")
def favicon() -> Response:
    return Response(_FAVICON, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})
