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
    AllocationIn,
    AuditPageOut,
    AuditRowOut,
    ChainStatusOut,
    DetailOut,
    DigestOut,
    EntryOut,
    EntryRowOut,
    ForbiddenOut,
    FundBalanceOut,
    FundIn,
    FundOut,
    JournalPageOut,
    MeOut,
    PostedOut,
    PostingOut,
    ReceiptIn,
    RefusalOut,
    ReversalIn,
    StatementLineOut,
    StatementOut,
    TokenIn,
    TokenOut,
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
from ledger import queries, services, users
from ledger.journal import LedgerRefusal, Posted
from ledger.money import parse_yuan_strict
from ledger.permissions import Actor, allowed

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


@router.post("/allocations", tags=["funds"], status_code=201, response_model=PostedOut,
             responses={**WRITE, **POSTED})
def allocate(body: AllocationIn, actor: ApiActor, engine: EngineDep, idem: IdempotencyDep) -> Any:
    """资金安排: the pool funds a project, in the fund the money came from."""

    def run():
        p = services.allocate(engine, actor, body.key, body.project_code, body.fund, parse_yuan_strict(body.amount),
                              body.date, body.memo)
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
        return 201, UserOut(id=uid, username=body.username, display_name=body.display_name.strip(), role=body.role,
                            township=township, is_active=True)

    return idem.run(run)
