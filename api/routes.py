"""JSON routes under /api/v1. Each calls one service; none builds postings or checks roles itself
beyond what the service checks (the service is the authority).

Callers authenticate with `Authorization: Bearer <token>` (never a cookie, so no CSRF token is
needed). Every POST accepts an `Idempotency-Key` header (api.idempotency). Amounts are decimal
strings in yuan; refusals are 422 with {"ok": false, "errors": [...]}; a role that may not do
something gets 403; an unknown entry, account or fund 404.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Path, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BeforeValidator

from api import schemas
from api.deps import ApiActor, EngineDep
from api.idempotency import IdempotencyDep
from api.schemas import (
    FUND_CODE_PATTERN,
    MAX_DATE,
    MAX_PAGE,
    MAX_PAGE_SIZE,
    MAX_SEQ,
    MIN_DATE,
    AccountOut,
    AllocationRequestIn,
    AllocationRequestOut,
    AllocationRequestPageOut,
    AuditPageOut,
    AuditRowOut,
    ChainStatusOut,
    DashboardOut,
    DetailOut,
    DigestOut,
    EntryOut,
    EntryRowOut,
    ForbiddenOut,
    FundBalanceOut,
    FundFiguresOut,
    FundIn,
    FundOut,
    FundSourceOut,
    IdleBalanceOut,
    IdleListOut,
    Industry,
    JournalPageOut,
    MeOut,
    NewProjectIn,
    PostedOut,
    PostingOut,
    ProjectDetailOut,
    ProjectOut,
    ProjectPageOut,
    ProjectStatusName,
    ReceiptIn,
    ReceiptOut,
    RefusalOut,
    RejectIn,
    RequestStatus,
    ReversalIn,
    SankeyLinkOut,
    SankeyNodeOut,
    SankeyOut,
    StatementLineOut,
    StatementOut,
    StatusChangeOut,
    TokenIn,
    TokenOut,
    TownshipProgressOut,
    TrialBalanceOut,
    TrialBalanceRowOut,
    UserIn,
    UserOut,
    VerifyResultOut,
    VerifyRunOut,
    iso_date_only,
    utc,
    yuan,
)
from ledger import dashboard, inkind, payments, projects, queries, services, users, welfare
from ledger.entries import Problem
from ledger.journal import LedgerRefusal, Posted
from ledger.money import parse_yuan_strict
from ledger.permissions import Actor, allowed, require
from web.masking import account_shower, id_shower

router = APIRouter()

# Responses every route may give, so the OpenAPI schema (and schemathesis) knows them.
R401: dict[int | str, dict[str, Any]] = {401: {"model": DetailOut, "description": "No valid bearer token"}}
R403: dict[int | str, dict[str, Any]] = {403: {"model": ForbiddenOut, "description": "The role may not do this"}}
R404: dict[int | str, dict[str, Any]] = {404: {"model": DetailOut, "description": "Not found"}}
R409: dict[int | str, dict[str, Any]] = {409: {"model": DetailOut,
                                               "description": "Idempotency-Key reused with another request, "
                                                              "or its first request is still running"}}
R422: dict[int | str, dict[str, Any]] = {422: {"model": RefusalOut, "description": "Invalid or refused"}}
R400: dict[int | str, dict[str, Any]] = {400: {"model": DetailOut, "description": "The body is not JSON"}}
READ = {**R401, **R403, **R422}
WRITE = {**R400, **R401, **R403, **R409, **R422}

QDate = Annotated[dt.date | None, BeforeValidator(iso_date_only),
                  Query(ge=MIN_DATE, le=MAX_DATE, description="YYYY-MM-DD")]
Page = Annotated[int, Query(ge=1, le=MAX_PAGE)]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
Seq = Annotated[int, Path(ge=1, le=MAX_SEQ)]


def _filter_text(max_length: int, description: str):
    return Annotated[str | None, Query(max_length=max_length, pattern=r"^[^\x00-\x1f\x7f]*$",
                                       description=description)]


def _check_range(date_from: dt.date | None, date_to: dt.date | None) -> None:
    if date_from and date_to and date_from > date_to:
        raise RequestValidationError([{"loc": ("query", "date_to"), "msg": "date_to is before date_from",
                                       "input": date_to.isoformat(), "type": "value_error"}])


def _nonempty(value: str | None) -> str | None:
    # Control characters are already refused by the parameter's pattern.
    return None if value is None else (value.strip() or None)


def _page_fields(page: queries.Page) -> dict:
    return {"total": page.total, "page": page.page, "page_size": page.page_size, "pages": page.pages}


def _entry_row(r: queries.EntryRow) -> dict:
    return {"seq": r.seq, "date": r.effective_date, "recorded_at": utc(r.recorded_at), "kind": r.kind,
            "memo": r.memo, "key": r.key, "amount": yuan(r.amount_fen), "reverses": r.reverses,
            "reversed_by": r.reversed_by, "maker": r.maker}


# ---------------------------------------------------------------------------------------------
# Who am I


@router.get("/me", tags=["auth"], response_model=MeOut, responses=R401)
def me(actor: ApiActor) -> MeOut:
    return MeOut(id=actor.user_id, username=actor.username, role=actor.role, township=actor.township)


@router.post("/tokens", tags=["auth"], status_code=201, response_model=TokenOut, responses=WRITE)
def issue_token(actor: ApiActor, engine: EngineDep, idem: IdempotencyDep,
                body: Annotated[TokenIn | None, Body()] = None) -> Any:
    """Issue a new bearer token for the caller's own use. The token is in this response only; a
    replay of this request (same Idempotency-Key) returns `token: null`."""
    name = (body or TokenIn()).name

    def run():
        token = users.issue_api_token(engine, actor, name)
        return 201, TokenOut(name=name.strip()[:64] or "api", token=token)

    return idem.run(run, redact=("token",))


# ---------------------------------------------------------------------------------------------
# Journal


@router.get("/journal", tags=["journal"], response_model=JournalPageOut, responses=READ)
def journal(
    actor: ApiActor,
    engine: EngineDep,
    date_from: QDate = None,
    date_to: QDate = None,
    kind: _filter_text(32, "Entry kind, e.g. fund_received") = None,
    account: _filter_text(200, "Account code, or a prefix ending in ':'") = None,
    fund: _filter_text(64, "Fund code") = None,
    page: Page = 1,
    page_size: PageSize = queries.DEFAULT_PAGE_SIZE,
) -> JournalPageOut:
    _check_range(date_from, date_to)
    f = queries.JournalFilter(date_from, date_to, _nonempty(kind), _nonempty(account), _nonempty(fund))
    result = services.journal_page(engine, actor, f, page, page_size)
    return JournalPageOut(items=[EntryRowOut(**_entry_row(r)) for r in result.items], **_page_fields(result))


@router.get("/journal/{seq}", tags=["journal"], response_model=EntryOut, responses={**READ, **R404})
def entry(seq: Seq, actor: ApiActor, engine: EngineDep) -> EntryOut:
    d = services.entry_detail(engine, actor, seq)
    if d is None:
        raise HTTPException(status_code=404, detail=f"no entry {seq}")
    return EntryOut(**_entry_row(d.row), checker=d.checker, status=d.status, payload_hash=d.payload_hash,
                    prev_hash=d.prev_hash, hash=d.hash, postings=[
                        PostingOut(account=p.account, account_name_zh=p.account_name_zh,
                                   account_name_en=p.account_name_en, fund=p.fund, amount=yuan(p.amount_fen),
                                   party=p.party) for p in d.postings])


@router.get("/trial-balance", tags=["reports"], response_model=TrialBalanceOut, responses=READ)
def trial_balance(actor: ApiActor, engine: EngineDep, as_of: QDate = None) -> TrialBalanceOut:
    """Balances per (account, fund), debit positive, zero rows omitted (the shape of `huimin report
    trial-balance --json`). Without `as_of`: every posted entry, reported as of today."""
    rows = services.trial_balance(engine, actor, as_of)
    return TrialBalanceOut(as_of=as_of or dt.date.today(), rows=[
        TrialBalanceRowOut(account=r.account, fund=r.fund, balance=yuan(r.balance_fen)) for r in rows])


@router.get("/funds", tags=["funds"], response_model=list[FundSourceOut], responses=READ)
def fund_sources(actor: ApiActor, engine: EngineDep) -> list[FundSourceOut]:
    """Every fund source: what it sent into the pool (with its receipts and document number), what has
    been allocated from it, what the pool still holds of it."""
    return [FundSourceOut(code=f.code, name=f.name, kind=f.kind, document_no=f.document_no,
                          received=yuan(f.received_fen), allocated=yuan(f.allocated_fen), in_pool=yuan(f.in_pool_fen),
                          receipts=[ReceiptOut(seq=r.seq, received_on=r.received_on, amount=yuan(r.amount_fen),
                                               memo=r.memo, kind=r.kind) for r in f.receipts])
            for f in services.fund_sources(engine, actor)]


@router.get("/accounts/{code}/statement", tags=["reports"], response_model=StatementOut,
            responses={**READ, **R404})
def statement(
    code: Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z][A-Za-z0-9:-]*$")],
    actor: ApiActor,
    engine: EngineDep,
    fund: _filter_text(64, "Only this fund") = None,
    date_from: QDate = None,
    date_to: QDate = None,
    page: Page = 1,
    page_size: PageSize = queries.DEFAULT_PAGE_SIZE,
) -> StatementOut:
    _check_range(date_from, date_to)
    st = services.account_statement(engine, actor, code, _nonempty(fund), date_from, date_to, page, page_size)
    if st is None:
        raise HTTPException(status_code=404, detail=f"no account {code}")
    a = st.account
    return StatementOut(
        account=AccountOut(code=a.code, type=a.type, name_zh=a.name_zh, name_en=a.name_en, opened_on=a.opened_on,
                           closed_on=a.closed_on, limit_kind=a.limit_kind,
                           balances=[FundBalanceOut(fund=f, balance=yuan(b)) for f, b in a.balances.items()]),
        fund=st.fund, date_from=st.date_from, date_to=st.date_to, opening_balance=yuan(st.opening_fen),
        closing_balance=yuan(st.closing_fen),
        lines=[StatementLineOut(date=ln.effective_date, seq=ln.seq, kind=ln.kind, memo=ln.memo, fund=ln.fund,
                                party=ln.party, amount=yuan(ln.amount_fen), balance=yuan(ln.running_fen))
               for ln in st.lines.items],
        **_page_fields(st.lines),
    )


# ---------------------------------------------------------------------------------------------
# Verification


@router.get("/verify", tags=["verification"], response_model=ChainStatusOut, responses=READ)
def verify_status(actor: ApiActor, engine: EngineDep) -> ChainStatusOut:
    s = services.chain_status(engine, actor)
    last = None
    if s.last_run_at is not None:
        last = VerifyRunOut(at=utc(s.last_run_at), ok=bool(s.last_run_ok), entries_checked=s.last_run_entries,
                            first_bad_seq=s.last_run_first_bad_seq, message=s.last_run_message)
    return ChainStatusOut(head_seq=s.head_seq, head_hash=s.head_hash, digest=f"{s.head_seq}:{s.head_hash}",
                          last_run=last)


@router.post("/verify", tags=["verification"], response_model=VerifyResultOut, responses=WRITE)
def verify_run(actor: ApiActor, engine: EngineDep, idem: IdempotencyDep) -> Any:
    """Recompute the hash chain and every stored balance now (inspector, admin); the run is recorded."""

    def run():
        return 200, VerifyResultOut(**services.verify_journal(engine, actor).as_dict())

    return idem.run(run)


@router.api_route("/verify", methods=["PUT", "PATCH", "DELETE", "OPTIONS"], include_in_schema=False)
def verify_other_methods() -> Response:
    # Starlette would answer 405 naming only the first route's method (GET); say both.
    return Response(status_code=405, headers={"Allow": "GET, POST"})


@router.get("/digest", tags=["verification"], response_model=DigestOut, responses=READ)
def digest(actor: ApiActor, engine: EngineDep) -> DigestOut:
    """The chain head (seq, hash): keep it to prove later that history up to here was not rewritten."""
    return DigestOut(**services.chain_digest(engine, actor))


# ---------------------------------------------------------------------------------------------
# Audit log


def _json_or_text(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


@router.get("/audit", tags=["audit"], response_model=AuditPageOut, responses=READ)
def audit(
    actor: ApiActor,
    engine: EngineDep,
    who: Annotated[str | None, Query(alias="actor", max_length=64, pattern=r"^[^\x00-\x1f\x7f]*$",
                                     description="User name")] = None,
    action: _filter_text(64, "Action prefix, e.g. fund.") = None,
    object_type: _filter_text(64, "Object type, e.g. entry") = None,
    date_from: QDate = None,
    date_to: QDate = None,
    page: Page = 1,
    page_size: PageSize = queries.DEFAULT_PAGE_SIZE,
) -> AuditPageOut:
    _check_range(date_from, date_to)
    f = queries.AuditFilter(_nonempty(who), _nonempty(action), _nonempty(object_type), date_from, date_to)
    result = services.audit_page(engine, actor, f, page, page_size)
    return AuditPageOut(items=[
        AuditRowOut(id=a.id, at=utc(a.at), actor=a.actor, action=a.action, object_type=a.object_type,
                    object_id=a.object_id, before=_json_or_text(a.before), after=_json_or_text(a.after))
        for a in result.items], **_page_fields(result))


# ---------------------------------------------------------------------------------------------
# Funds and entries


def _posted(engine, actor: Actor, p: Posted) -> tuple[int, PostedOut]:
    h = services.entry_hash_at(engine, actor, p.seq) if allowed(actor, "journal.read") else None
    return (201 if p.created else 200), PostedOut(seq=p.seq, key=p.key, created=p.created, hash=h)


def _not_found_if(exc: LedgerRefusal, field_suffix: str, message: str, detail: str) -> None:
    """Turn a refusal that only says "no such <thing>" (named in the path) into a 404."""
    if all(p.field.endswith(field_suffix) and p.message == message for p in exc.problems):
        raise HTTPException(status_code=404, detail=detail) from exc


POSTED = {200: {"model": PostedOut, "description": "Already posted with this key and the same payload"}}


@router.post("/funds", tags=["funds"], status_code=201, response_model=FundOut, responses=WRITE)
def register_fund(body: FundIn, actor: ApiActor, engine: EngineDep, idem: IdempotencyDep) -> Any:
    """Register a fund source (资金来源) with its document number (指标文号)."""

    def run():
        services.register_fund(engine, actor, body.code, body.name, body.kind, body.document_no)
        return 201, FundOut(code=body.code, name=body.name, kind=body.kind, document_no=body.document_no)

    return idem.run(run)


@router.post("/funds/{code}/receipts", tags=["funds"], status_code=201, response_model=PostedOut,
             responses={**WRITE, **R404, **POSTED})
def receive_fund(
    code: Annotated[str, Path(pattern=FUND_CODE_PATTERN, max_length=64)],
    body: ReceiptIn,
    actor: ApiActor,
    engine: EngineDep,
    idem: IdempotencyDep,
) -> Any:
    """资金到位: the fund's money arrives in the pool."""

    def run():
        try:
            p = services.receive_fund(engine, actor, body.key, code, parse_yuan_strict(body.amount), body.date,
                                      body.memo)
        except LedgerRefusal as exc:
            _not_found_if(exc, ".fund", "unknown fund", f"no fund {code}")
            raise
        return _posted(engine, actor, p)

    return idem.run(run)


@router.post("/entries/{seq}/reversal", tags=["journal"], status_code=201, response_model=PostedOut,
             responses={**WRITE, **R404, **POSTED})
def reverse(seq: Seq, body: ReversalIn, actor: ApiActor, engine: EngineDep, idem: IdempotencyDep) -> Any:
    """冲销: post the mirror image of entry `seq`, linked to it. The original is never changed."""

    def run():
        try:
            p = services.reverse_entry(engine, actor, seq, body.key, body.date, body.memo)
        except LedgerRefusal as exc:
            _not_found_if(exc, "seq", "no such entry", f"no entry {seq}")
            raise
        return _posted(engine, actor, p)

    return idem.run(run)


# ---------------------------------------------------------------------------------------------
# Users


@router.post("/users", tags=["users"], status_code=201, response_model=UserOut, responses=WRITE)
def create_user(body: UserIn, actor: ApiActor, engine: EngineDep, idem: IdempotencyDep) -> Any:
    """Create a user (admin). The password is the initial one; the user changes it on the web."""

    def run():
        township = (body.township or "").strip() or None
        uid = users.create_user(engine, actor, body.username, body.role, body.password, township=township,
                                display_name=body.display_name)
        # The township as stored: by its registered name, when it was given by code.
        stored = next((u.township for u in users.list_users(engine, actor) if u.id == uid), township)
        return 201, UserOut(id=uid, username=body.username, display_name=body.display_name.strip(), role=body.role,
                            township=stored, is_active=True)

    return idem.run(run)


# ---------------------------------------------------------------------------------------------
# Finance dashboard


def _pct(value) -> str | None:
    return None if value is None else str(value)


@router.get("/dashboard", tags=["reports"], response_model=DashboardOut, responses=READ)
def finance_dashboard(actor: ApiActor, engine: EngineDep, as_of: QDate = None) -> DashboardOut:
    """资金看板: money from fund sources through projects to industries (Sankey nodes and links),
    spending progress by township, and the projects holding money, longest idle first (at most 50;
    `idle.total` counts them all). A township-scoped caller sees its township's and county-wide projects."""
    b = dashboard.finance_dashboard(engine, actor, as_of)
    return DashboardOut(
        as_of=b.as_of, day=b.day, scope=b.scope, projects=b.projects, truncated=b.truncated,
        allocated=yuan(b.allocated_fen), spent=yuan(b.spent_fen), balance=yuan(b.balance_fen),
        progress_pct=_pct(b.progress_pct),
        sankey=SankeyOut(
            nodes=[SankeyNodeOut(key=n.key, kind=n.kind, code=n.code, name=n.name, projects=n.projects)
                   for n in b.sankey.nodes],
            links=[SankeyLinkOut(source=k.source, target=k.target, amount=yuan(k.amount_fen)) for k in b.sankey.links]),
        townships=[TownshipProgressOut(township=t.township, in_library=t.in_library, projects=t.projects,
                                       allocated=yuan(t.allocated_fen), spent=yuan(t.spent_fen),
                                       balance=yuan(t.balance_fen), progress_pct=_pct(t.progress_pct))
                   for t in b.townships],
        idle=IdleListOut(total=b.idle.total, total_balance=yuan(b.idle.total_fen), items=[
            IdleBalanceOut(code=r.code, name=r.name, account=r.account, industry=r.industry, township=r.township,
                           balance=yuan(r.balance_fen),
                           by_fund=[FundBalanceOut(fund=f.fund, balance=yuan(f.balance_fen)) for f in r.by_fund],
                           first_allocation_on=r.first_allocation_on, last_payment_on=r.last_payment_on,
                           idle_days=r.idle_days, level=r.level)
            for r in b.idle.items]),
    )


# ---------------------------------------------------------------------------------------------
# Project library and allocation requests (maker-checker: one user prepares, another approves)

ProjectCodePath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,63}$",
                                      description="Project code (may contain '/')")]
RequestId = Annotated[int, Path(ge=1, le=MAX_SEQ)]
CREATED_OR_REPLAYED = {200: {"model": AllocationRequestOut,
                             "description": "The key was used before with the same details: that request"}}


def _project_out(p: projects.ProjectView) -> ProjectOut:
    return ProjectOut(code=p.code, name=p.name, industry=p.industry, township=p.township, implementer=p.implementer,
                      budget=yuan(p.budget_fen), standard=yuan(p.standard_fen), start_on=p.start_on, end_on=p.end_on,
                      status=p.status, performance_target=p.performance_target, account=p.account_code,
                      created_by=p.created_by, created_at=utc(p.created_at), balance=yuan(p.balance_fen))


def _request_out(r: projects.RequestView) -> AllocationRequestOut:
    return AllocationRequestOut(id=r.id, key=r.key, kind=r.kind, project=r.project, from_project=r.from_project,
                                fund=r.fund, amount=yuan(r.amount_fen), date=r.allocate_on, memo=r.memo,
                                status=r.status, prepared_by=r.prepared_by, prepared_at=utc(r.prepared_at),
                                decided_by=r.decided_by, decided_at=utc(r.decided_at), reason=r.reason,
                                entry_seq=r.entry_seq, created=r.created)


@router.get("/projects", tags=["projects"], response_model=ProjectPageOut, responses=READ)
def list_projects(
    actor: ApiActor,
    engine: EngineDep,
    status: Annotated[ProjectStatusName | None, Query()] = None,
    industry: Annotated[Industry | None, Query()] = None,
    township: _filter_text(64, "Township name; county-wide projects have none") = None,
    q: _filter_text(64, "Code or name contains") = None,
    page: Page = 1,
    page_size: PageSize = queries.DEFAULT_PAGE_SIZE,
) -> ProjectPageOut:
    """项目库: projects by code. A township-scoped caller sees its township's and county-wide projects."""
    f = projects.ProjectFilter(industry=industry, township=_nonempty(township), status=status, q=_nonempty(q))
    result = projects.list_projects(engine, actor, f, page, page_size)
    return ProjectPageOut(items=[_project_out(p) for p in result.items], **_page_fields(result))


@router.post("/projects", tags=["projects"], status_code=201, response_model=ProjectOut, responses=WRITE)
def create_project(body: NewProjectIn, actor: ApiActor, engine: EngineDep, idem: IdempotencyDep) -> Any:
    """Register a project (status planned); an approver other than its creator approves it."""

    def run():
        p = projects.create_project(engine, actor, projects.ProjectIn(
            code=body.code, name=body.name, industry=body.industry, start_on=body.start_on,
            budget_fen=parse_yuan_strict(body.budget), township=body.township, implementer=body.implementer,
            standard_fen=None if body.standard is None else parse_yuan_strict(body.standard), end_on=body.end_on,
            performance_target=body.performance_target))
        return 201, _project_out(p)

    return idem.run(run)


@router.get("/projects/{code:path}", tags=["projects"], response_model=ProjectDetailOut,
            responses={**READ, **R404})
def project(code: ProjectCodePath, actor: ApiActor, engine: EngineDep, as_of: QDate = None) -> ProjectDetailOut:
    """One project: money by fund (allocated, spent, balance), spending progress, days idle, status
    history and the latest allocation requests. With `as_of`, everything as of that date."""
    d = projects.project_detail(engine, actor, code, as_of)
    if d is None:
        raise HTTPException(status_code=404, detail=f"no project {code}")
    return ProjectDetailOut(
        project=_project_out(d.project), as_of=d.as_of, allocated=yuan(d.allocated_fen), spent=yuan(d.spent_fen),
        balance=yuan(d.balance_fen), progress_pct=None if d.progress_pct is None else str(d.progress_pct),
        first_allocation_on=d.first_allocation_on, last_payment_on=d.last_payment_on, idle_days=d.idle_days,
        by_fund=[FundFiguresOut(fund=f.fund, allocated=yuan(f.allocated_fen), spent=yuan(f.spent_fen),
                                balance=yuan(f.balance_fen)) for f in d.by_fund],
        history=[StatusChangeOut(from_status=h.from_status, to_status=h.to_status, changed_by=h.changed_by,
                                 changed_at=utc(h.changed_at), reason=h.reason) for h in d.history],
        requests=[_request_out(r) for r in d.requests])


@router.get("/allocation-requests", tags=["projects"], response_model=AllocationRequestPageOut, responses=READ)
def list_allocation_requests(
    actor: ApiActor,
    engine: EngineDep,
    status: Annotated[RequestStatus | None, Query(description="pending: an approver's queue")] = None,
    project: _filter_text(64, "Receiving or giving project code") = None,
    page: Page = 1,
    page_size: PageSize = queries.DEFAULT_PAGE_SIZE,
) -> AllocationRequestPageOut:
    result = projects.list_requests(engine, actor, status, _nonempty(project), page, page_size)
    return AllocationRequestPageOut(items=[_request_out(r) for r in result.items], **_page_fields(result))


@router.post("/allocation-requests", tags=["projects"], status_code=201, response_model=AllocationRequestOut,
             responses={**WRITE, **CREATED_OR_REPLAYED})
def prepare_allocation(body: AllocationRequestIn, actor: ApiActor, engine: EngineDep,
                       idem: IdempotencyDep) -> Any:
    """资金安排申请 (finance officer): nothing is posted until an approver other than the preparer
    approves it. The same key with the same details returns the first request (200)."""

    def run():
        amount = parse_yuan_strict(body.amount)
        if body.from_project is None:
            r = projects.prepare_allocation(engine, actor, body.key, body.project_code, body.fund, amount, body.date,
                                            body.memo)
        else:
            r = projects.prepare_reallocation(engine, actor, body.key, body.from_project, body.project_code,
                                              body.fund, amount, body.date, body.memo)
        return (201 if r.created else 200), _request_out(r)

    return idem.run(run)


def _decided(run_decision) -> tuple[int, AllocationRequestOut]:
    try:
        r = run_decision()
    except LedgerRefusal as exc:
        _not_found_if(exc, "id", "no such allocation request", "no such allocation request")
        raise
    return 200, _request_out(r)


@router.post("/allocation-requests/{request_id}/approve", tags=["projects"], response_model=AllocationRequestOut,
             responses={**WRITE, **R404})
def approve_allocation(request_id: RequestId, actor: ApiActor, engine: EngineDep, idem: IdempotencyDep) -> Any:
    """Approve (approver, never the preparer): posts the entry, maker = preparer, checker = caller."""
    return idem.run(lambda: _decided(lambda: projects.approve_request(engine, actor, request_id)))


@router.post("/allocation-requests/{request_id}/reject", tags=["projects"], response_model=AllocationRequestOut,
             responses={**WRITE, **R404})
def reject_allocation(request_id: RequestId, body: RejectIn, actor: ApiActor, engine: EngineDep,
                      idem: IdempotencyDep) -> Any:
    """Reject with a reason (approver, never the preparer); nothing is posted."""
    return idem.run(lambda: _decided(lambda: projects.reject_request(engine, actor, request_id, body.reason)))


# ---------------------------------------------------------------------------------------------
# Payment batches (ledger.payments). Resident ID and account numbers on rows follow the pages' rule
# (web.masking): whole for the finance officer and the inspector, the 公示 form for everyone else.

BatchNoPath = Annotated[str, Path(min_length=1, max_length=64, pattern=schemas.PAYMENT_CODE_PATTERN)]
HouseholdNoPath = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z][0-9A-Za-z-]{0,31}$")]


def _batch_fields(b: payments.BatchView) -> dict:
    return {"batch_no": b.batch_no, "project_code": b.project_code, "project_name": b.project_name,
            "township": b.township, "purpose": b.purpose, "status": b.status, "declared_count": b.declared_count,
            "declared_total": yuan(b.declared_total_fen), "row_count": b.row_count, "total": yuan(b.total_fen),
            "paid_count": b.paid_count, "failed_count": b.failed_count, "is_history": b.is_history,
            "is_reissue": b.is_reissue, "prepared_by": b.prepared_by, "prepared_at": utc(b.prepared_at),
            "disclosure_days": b.disclosure_days, "disclosed_on": b.disclosed_on,
            "disclosure_until": b.disclosure_until, "decided_by": b.decided_by, "decided_at": utc(b.decided_at),
            "reason": b.reason, "memo": b.memo}


def _batch_out(b: payments.BatchView) -> schemas.BatchOut:
    return schemas.BatchOut(**_batch_fields(b))


def _no_such_batch(exc: LedgerRefusal, batch_no: str) -> None:
    _not_found_if(exc, "batch_no", "no such batch", f"no batch {batch_no}")


@router.get("/payment-batches", tags=["payments"], response_model=schemas.BatchPageOut, responses=READ)
def payment_batches(
    actor: ApiActor,
    engine: EngineDep,
    status: Annotated[schemas.BatchStatus | None, Query()] = None,
    purpose: Annotated[schemas.Purpose | None, Query()] = None,
    project: _filter_text(64, "Project code") = None,
    page: Page = 1,
    page_size: PageSize = queries.DEFAULT_PAGE_SIZE,
) -> schemas.BatchPageOut:
    """发放批次, newest first. A township-scoped caller sees its township's and county-wide projects' batches."""
    f = payments.BatchFilter(status=status, project=_nonempty(project), purpose=purpose)
    result = payments.list_batches(engine, actor, f, page, page_size)
    return schemas.BatchPageOut(items=[_batch_out(b) for b in result.items], **_page_fields(result))


@router.get("/payment-batches/{batch_no:path}", tags=["payments"], response_model=schemas.BatchDetailOut,
            responses={**READ, **R404})
def payment_batch(batch_no: BatchNoPath, actor: ApiActor, engine: EngineDep, page: Page = 1,
                  page_size: PageSize = queries.DEFAULT_PAGE_SIZE) -> schemas.BatchDetailOut:
    """One batch and one page of its rows."""
    d = payments.batch_detail(engine, actor, batch_no, page, page_size)
    if d is None:
        raise HTTPException(status_code=404, detail=f"no batch {batch_no}")
    show_id, show_account = id_shower(actor), account_shower(actor)
    rows = [schemas.PaymentRowOut(
        ref=r.ref, row_no=r.row_no, household_no=r.household_no, village=r.village,
        payee_id_number=show_id(r.payee_id_number) if r.payee_id_number else None, payee_name=r.payee_name,
        bank_account=show_account(r.bank_account) if r.bank_account else None, amount=yuan(r.amount_fen),
        paid_on=r.paid_on, period=r.period, item=r.item, quantity=r.quantity, unit_price=yuan(r.unit_price_fen),
        status=r.status, entry_seq=r.entry_seq, reversal_seq=r.reversal_seq, bank_note=r.bank_note,
        reissue_of=r.reissue_of) for r in d.rows.items]
    return schemas.BatchDetailOut(**_batch_fields(d.batch), rows=rows, page=d.rows.page,
                                  page_size=d.rows.page_size, pages=d.rows.pages)


@router.post("/payment-batches", tags=["payments"], status_code=201, response_model=schemas.RollOut,
             responses={**WRITE, 200: {"model": schemas.RollOut, "description": "Every row was already recorded"}})
def prepare_roll(body: schemas.PaymentRollIn, actor: ApiActor, engine: EngineDep, idem: IdempotencyDep) -> Any:
    """Enter a roll (清册): its rows and declared control totals, checked whole against the registry and the
    project; any problem refuses it all (422, each problem with `row`: the row's position in `rows`, from 1).
    Rows already recorded with the same details are skipped, so sending the roll again changes nothing."""

    def run():
        rows = [payments.PaymentIn(
            ref=r.ref, batch_no=r.batch_no, project_code=r.project_code, household_no=r.household_no,
            payee_id_number=r.payee_id_number, payee_name=r.payee_name, bank_account=r.bank_account,
            amount_fen=parse_yuan_strict(r.amount), paid_on=r.paid_on, purpose=r.purpose, period=r.period,
            item=r.item, quantity=r.quantity,
            unit_price_fen=parse_yuan_strict(r.unit_price) if r.unit_price is not None else None, row=i)
            for i, r in enumerate(body.rows, start=1)]
        summary = payments.import_payments(engine, actor, rows, declared_count=body.declared_count,
                                           declared_total_fen=parse_yuan_strict(body.declared_total),
                                           memo=body.memo)
        out = schemas.RollOut(batches=sorted({r.batch_no for r in body.rows}),
                              batches_created=summary["batches_created"], rows_created=summary["rows_created"],
                              rows_already_recorded=summary["rows_already_recorded"], total=summary["total"])
        return (201 if summary["rows_created"] else 200), out

    return idem.run(run)


@router.post("/payment-batches/{batch_no:path}/disclosure", tags=["payments"], response_model=schemas.BatchOut,
             responses={**WRITE, **R404})
def disclose_payment_batch(batch_no: BatchNoPath, actor: ApiActor, engine: EngineDep, idem: IdempotencyDep,
                           body: Annotated[schemas.DisclosureIn | None, Body()] = None) -> Any:
    """发布公示 (finance officer): the batch hangs on the notice board (and /public/notices) for `days`, at
    least the county's minimum, from `start_on` (today, or a day up to 30 days back for a notice posted on
    paper); it may be approved once they have passed."""
    body = body or schemas.DisclosureIn()

    def run():
        require(actor, "payment.disclose")  # before the date check: a role that may not gets 403, not 422
        today = dt.date.today()
        on = body.start_on or today
        if not today - dt.timedelta(days=schemas.MAX_DISCLOSURE_BACKDATE_DAYS) <= on <= today:
            raise LedgerRefusal([Problem("disclosure", "start_on", on.isoformat(),
                                         f"the disclosure starts today or on a day in the last "
                                         f"{schemas.MAX_DISCLOSURE_BACKDATE_DAYS} days")])
        try:
            b = payments.disclose_batch(engine, actor, batch_no, on, body.days)
        except LedgerRefusal as exc:
            _no_such_batch(exc, batch_no)
            raise
        return 200, _batch_out(b)

    return idem.run(run)


@router.post("/payment-batches/{batch_no:path}/approve", tags=["payments"], response_model=schemas.BatchOut,
             responses={**WRITE, **R404})
def approve_payment_batch(batch_no: BatchNoPath, actor: ApiActor, engine: EngineDep, idem: IdempotencyDep) -> Any:
    """审核通过 (approver, never the preparer): every row re-checked against today's registry, then one entry
    per row, split by fund in the stated order, in one commit."""

    def run():
        try:
            b = payments.approve_batch(engine, actor, batch_no)
        except LedgerRefusal as exc:
            _no_such_batch(exc, batch_no)
            raise
        return 200, _batch_out(b)

    return idem.run(run)


@router.post("/payment-batches/{batch_no:path}/reject", tags=["payments"], response_model=schemas.BatchOut,
             responses={**WRITE, **R404})
def reject_payment_batch(batch_no: BatchNoPath, body: schemas.BatchRejectIn, actor: ApiActor, engine: EngineDep,
                         idem: IdempotencyDep) -> Any:
    """驳回 with a reason (approver, never the preparer); nothing is posted."""

    def run():
        try:
            b = payments.reject_batch(engine, actor, batch_no, body.reason)
        except LedgerRefusal as exc:
            _no_such_batch(exc, batch_no)
            raise
        return 200, _batch_out(b)

    return idem.run(run)


@router.post("/advances", tags=["payments"], status_code=201, response_model=schemas.BatchOut, responses=WRITE)
def prepare_advance(body: schemas.AdvanceIn, actor: ApiActor, engine: EngineDep, idem: IdempotencyDep) -> Any:
    """预付款 (finance officer): a one-row batch paying the project's implementer; no disclosure, approved by
    another user like any batch. The same ref, batch and amount again returns the batch already prepared."""

    def run():
        b = payments.prepare_advance(engine, actor, body.batch_no, body.ref, body.project_code,
                                     parse_yuan_strict(body.amount), body.date, body.memo)
        return 201, _batch_out(b)

    return idem.run(run)


def _share(code: str, name: str, fen: int) -> schemas.FundShareOut:
    return schemas.FundShareOut(fund=code, name=name, amount=yuan(fen))


@router.get("/households/{household_no}/statement", tags=["payments"],
            response_model=schemas.HouseholdStatementOut, responses={**READ, **R404})
def household_statement(household_no: HouseholdNoPath, actor: ApiActor, engine: EngineDep
                        ) -> schemas.HouseholdStatementOut:
    """收款明细: every payment the household received, each with the fund sources that paid it."""
    st = payments.household_statement(engine, actor, household_no)
    if st is None:
        raise HTTPException(status_code=404, detail=f"no household {household_no}")
    return schemas.HouseholdStatementOut(
        household_no=st.household_no, total=yuan(st.total_fen), by_fund=[_share(*f) for f in st.by_fund],
        lines=[schemas.HouseholdPaymentOut(
            paid_on=ln.paid_on, ref=ln.ref, batch_no=ln.batch_no, project_code=ln.project_code,
            project_name=ln.project_name, purpose=ln.purpose, period=ln.period, item=ln.item, status=ln.status,
            amount=yuan(ln.amount_fen), funds=[_share(*f) for f in ln.funds], is_history=ln.is_history)
            for ln in st.lines])


@router.get("/public/notices/{batch_no:path}", tags=["public"], response_model=schemas.PublicNoticeOut,
            responses={**R404, **R422})
def public_notice(batch_no: BatchNoPath, engine: EngineDep) -> schemas.PublicNoticeOut:
    """公示, no authentication: a disclosed (or since approved) batch's payees with masked ID and account
    numbers, as the village notice board shows them. 404 for anything not public."""
    n = payments.public_notice(engine, batch_no)
    if n is None:
        raise HTTPException(status_code=404, detail="no such notice")
    return schemas.PublicNoticeOut(
        batch_no=n.batch_no, project_name=n.project_name, township=n.township, purpose=n.purpose,
        disclosed_on=n.disclosed_on, last_day=n.disclosure_until - dt.timedelta(days=1), row_count=n.row_count,
        total=yuan(n.total_fen), rows=[schemas.PublicRowOut(
            village=r.village, payee_name=r.payee_name, id_number=r.id_masked, bank_account=r.account_masked,
            amount=yuan(r.amount_fen), period=r.period, item=r.item, quantity=r.quantity) for r in n.rows])


# ---------------------------------------------------------------------------------------------
# Public-welfare posts (ledger.welfare) and in-kind advances (ledger.inkind)


@router.get("/posts", tags=["welfare"], response_model=schemas.WelfarePostPageOut, responses=READ)
def welfare_posts(
    actor: ApiActor,
    engine: EngineDep,
    post_type: Annotated[schemas.PostType | None, Query(description="general, forest, grassland, road, pv")] = None,
    township: _filter_text(64, "Township name or code") = None,
    project: _filter_text(64, "Project code") = None,
    active: Annotated[bool | None, Query(description="Held on as_of (true) or not (false)")] = None,
    q: _filter_text(64, "Post number, household number or holder name contains") = None,
    as_of: QDate = None,
    page: Page = 1,
    page_size: PageSize = queries.DEFAULT_PAGE_SIZE,
) -> schemas.WelfarePostPageOut:
    """公益性岗位 roster, by post number. Holder IDs are masked for roles that do not see full IDs; a
    township-scoped caller sees its township's posts."""
    f = welfare.PostFilter(post_type=post_type, township=_nonempty(township), project=_nonempty(project),
                           active=active, q=_nonempty(q), as_of=as_of)
    result = welfare.list_posts(engine, actor, f, page, page_size)
    return schemas.WelfarePostPageOut(items=[schemas.WelfarePostOut(
        post_no=p.post_no, post_type=p.post_type, project_code=p.project_code, project_name=p.project_name,
        household_no=p.household_no, township=p.township, village=p.village, holder_id_number=p.holder_id_number,
        holder_name=p.holder_name, monthly_wage=yuan(p.monthly_wage_fen), start_on=p.start_on, end_on=p.end_on,
        end_reason=p.end_reason, active=p.active) for p in result.items], **_page_fields(result))


def _buckets(amounts: dict[str, int]) -> list[schemas.AgingBucketOut]:
    return [schemas.AgingBucketOut(bucket=b, amount=yuan(amounts[b])) for b in inkind.BUCKET_NAMES]


@router.get("/advances/aging", tags=["payments"], response_model=schemas.AdvanceAgingOut, responses=READ)
def advance_aging(actor: ApiActor, engine: EngineDep, as_of: QDate = None) -> schemas.AdvanceAgingOut:
    """实物 in-kind aid: per project, what its implementer was advanced, delivered and still owes in goods,
    by fund, with the age of the oldest advance not yet covered by deliveries (FIFO) and the undelivered
    amount by age (0-30, 31-90, 91-180, 180+ days). As of the end of `as_of` (default today)."""
    a = inkind.advance_aging(engine, actor, as_of)
    return schemas.AdvanceAgingOut(
        as_of=a.as_of, advanced=yuan(a.advanced_fen), delivered=yuan(a.delivered_fen), other=yuan(a.other_fen),
        undelivered=yuan(a.undelivered_fen), buckets=_buckets(a.buckets), rows=[schemas.AdvanceAgingRowOut(
            project_code=r.project_code, project_name=r.project_name, implementer=r.implementer, township=r.township,
            account=r.account, advanced=yuan(r.advanced_fen), delivered=yuan(r.delivered_fen), other=yuan(r.other_fen),
            undelivered=yuan(r.undelivered_fen), oldest_on=r.oldest_on, days=r.days, bucket=r.bucket,
            buckets=_buckets(r.buckets), by_fund=[schemas.FundAgingOut(
                fund=f.fund, advanced=yuan(f.advanced_fen), delivered=yuan(f.delivered_fen), other=yuan(f.other_fen),
                undelivered=yuan(f.undelivered_fen), oldest_on=f.oldest_on, days=f.days, bucket=f.bucket,
                buckets=_buckets(f.buckets)) for f in r.by_fund]) for r in a.rows])
