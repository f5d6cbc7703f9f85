"""Read models for screens, the API and exports: the journal, one entry, an account statement,
the audit log and the verification status. Every list is paged with a hard page-size limit; an
export reads at most MAX_EXPORT_ROWS. Amounts stay integer fen; formatting is the caller's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session

from ledger.journal import ACCOUNT, BALANCE, ENTRY, FUND, HEAD, POSTING
from ledger.models import AppUser, AuditLog, VerificationRun

USER = AppUser.__table__
AUDIT = AuditLog.__table__
VRUN = VerificationRun.__table__

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_EXPORT_ROWS = 100_000


def clamp_page(page: int, page_size: int) -> tuple[int, int]:
    return max(1, page), max(1, min(MAX_PAGE_SIZE, page_size))


@dataclass(frozen=True, slots=True)
class Page:
    items: list
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


@dataclass(frozen=True, slots=True)
class JournalFilter:
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    kind: str | None = None
    account: str | None = None  # exact code, or a prefix ending in ':'
    fund: str | None = None


@dataclass(frozen=True, slots=True)
class EntryRow:
    seq: int
    effective_date: dt.date
    recorded_at: dt.datetime
    kind: str
    memo: str
    key: str
    amount_fen: int  # sum of the debits
    reverses: int | None
    reversed_by: int | None
    maker: str | None


def _journal_where(f: JournalFilter):
    conds = []
    if f.date_from:
        conds.append(ENTRY.c.effective_date >= f.date_from)
    if f.date_to:
        conds.append(ENTRY.c.effective_date <= f.date_to)
    if f.kind:
        conds.append(ENTRY.c.kind == f.kind)
    if f.account or f.fund:
        p = POSTING.alias("pf")
        sub = select(p.c.id).where(p.c.entry_seq == ENTRY.c.seq)
        if f.account:
            acc = select(ACCOUNT.c.id)
            if f.account.endswith(":"):
                acc = acc.where(ACCOUNT.c.code.startswith(f.account, autoescape=True))
            else:
                acc = acc.where(ACCOUNT.c.code == f.account)
            sub = sub.where(p.c.account_id.in_(acc.scalar_subquery()))
        if f.fund:
            sub = sub.where(p.c.fund_id.in_(select(FUND.c.id).where(FUND.c.code == f.fund).scalar_subquery()))
        conds.append(exists(sub))
    return and_(True, *conds)


def list_entries(s: Session, f: JournalFilter, page: int = 1, page_size: int = DEFAULT_PAGE_SIZE,
                 limit_all: int | None = None) -> Page:
    page, page_size = clamp_page(page, page_size)
    where = _journal_where(f)
    total = s.execute(select(func.count()).select_from(ENTRY).where(where)).scalar_one()
    rev = ENTRY.alias("rev")
    debit = (
        select(func.coalesce(func.sum(POSTING.c.amount_fen), 0))
        .where(POSTING.c.entry_seq == ENTRY.c.seq, POSTING.c.amount_fen > 0)
        .scalar_subquery()
    )
    stmt = (
        select(ENTRY.c.seq, ENTRY.c.effective_date, ENTRY.c.recorded_at, ENTRY.c.kind, ENTRY.c.memo,
               ENTRY.c.idempotency_key, debit.label("amount"), ENTRY.c.reverses, rev.c.seq.label("reversed_by"),
               USER.c.username)
        .select_from(ENTRY.outerjoin(rev, rev.c.reverses == ENTRY.c.seq).outerjoin(USER, USER.c.id == ENTRY.c.maker_id))
        .where(where)
        .order_by(ENTRY.c.seq.desc())
    )
    if limit_all is not None:
        stmt = stmt.limit(min(limit_all, MAX_EXPORT_ROWS))
    else:
        stmt = stmt.limit(page_size).offset((page - 1) * page_size)
    items = [EntryRow(r.seq, r.effective_date, r.recorded_at, r.kind, r.memo, r.idempotency_key, int(r.amount),
                      r.reverses, r.reversed_by, r.username) for r in s.execute(stmt)]
    return Page(items, int(total), page, page_size)


@dataclass(frozen=True, slots=True)
class PostingLine:
    account: str
    account_name_zh: str
    account_name_en: str
    fund: str
    amount_fen: int
    party: str | None


@dataclass(frozen=True, slots=True)
class EntryDetail:
    row: EntryRow
    status: str
    payload_hash: str
    prev_hash: str
    hash: str
    checker: str | None
    postings: list[PostingLine] = field(default_factory=list)


def entry_detail(s: Session, seq: int) -> EntryDetail | None:
    rev = ENTRY.alias("rev")
    maker = USER.alias("maker")
    checker = USER.alias("checker")
    r = s.execute(
        select(ENTRY, rev.c.seq.label("reversed_by"), maker.c.username.label("maker_name"),
               checker.c.username.label("checker_name"))
        .select_from(ENTRY.outerjoin(rev, rev.c.reverses == ENTRY.c.seq)
                     .outerjoin(maker, maker.c.id == ENTRY.c.maker_id)
                     .outerjoin(checker, checker.c.id == ENTRY.c.checker_id))
        .where(ENTRY.c.seq == seq)
    ).first()
    if r is None:
        return None
    lines = [
        PostingLine(p.code, p.name_zh, p.name_en, p.fund, int(p.amount_fen), p.party)
        for p in s.execute(
            select(ACCOUNT.c.code, ACCOUNT.c.name_zh, ACCOUNT.c.name_en, FUND.c.code.label("fund"),
                   POSTING.c.amount_fen, POSTING.c.party)
            .select_from(POSTING.join(ACCOUNT, ACCOUNT.c.id == POSTING.c.account_id)
                         .join(FUND, FUND.c.id == POSTING.c.fund_id))
            .where(POSTING.c.entry_seq == seq).order_by(POSTING.c.id)
        )
    ]
    debit = sum(p.amount_fen for p in lines if p.amount_fen > 0)
    row = EntryRow(r.seq, r.effective_date, r.recorded_at, r.kind, r.memo, r.idempotency_key, debit, r.reverses,
                   r.reversed_by, r.maker_name)
    return EntryDetail(row, r.status, r.payload_hash, r.prev_hash, r.hash, r.checker_name, lines)


@dataclass(frozen=True, slots=True)
class AccountInfo:
    id: int
    code: str
    type: str
    name_zh: str
    name_en: str
    opened_on: dt.date
    closed_on: dt.date | None
    limit_kind: str
    balances: dict[str, int]  # fund code -> balance_fen (current, stored)


def account_info(s: Session, code: str) -> AccountInfo | None:
    a = s.execute(select(ACCOUNT).where(ACCOUNT.c.code == code)).first()
    if a is None:
        return None
    bals = {
        f: int(b) for f, b in s.execute(
            select(FUND.c.code, BALANCE.c.balance_fen).select_from(BALANCE.join(FUND, FUND.c.id == BALANCE.c.fund_id))
            .where(BALANCE.c.account_id == a.id).order_by(FUND.c.code))
    }
    return AccountInfo(a.id, a.code, a.type, a.name_zh, a.name_en, a.opened_on, a.closed_on, a.limit_kind, bals)


@dataclass(frozen=True, slots=True)
class StatementLine:
    effective_date: dt.date
    seq: int
    kind: str
    memo: str
    fund: str
    party: str | None
    amount_fen: int
    running_fen: int  # balance of the account (all funds, or the chosen fund) after this line


@dataclass(frozen=True, slots=True)
class Statement:
    account: AccountInfo
    fund: str | None
    date_from: dt.date | None
    date_to: dt.date | None
    opening_fen: int
    closing_fen: int
    lines: Page


def account_statement(s: Session, code: str, fund: str | None = None, date_from: dt.date | None = None,
                      date_to: dt.date | None = None, page: int = 1, page_size: int = DEFAULT_PAGE_SIZE,
                      limit_all: int | None = None) -> Statement | None:
    """Postings of one account in date order with a running balance.

    Uses the (account, fund, date) index: the opening balance is one indexed SUM, the lines one
    indexed range; the page's running balance starts from a SUM over the lines before the page.
    """
    info = account_info(s, code)
    if info is None:
        return None
    page, page_size = clamp_page(page, page_size)
    base = [POSTING.c.account_id == info.id]
    if fund:
        base.append(POSTING.c.fund_id.in_(select(FUND.c.id).where(FUND.c.code == fund).scalar_subquery()))
    opening = 0
    if date_from:
        opening = int(s.execute(select(func.coalesce(func.sum(POSTING.c.amount_fen), 0))
                                .where(*base, POSTING.c.effective_date < date_from)).scalar_one())
    rng = list(base)
    if date_from:
        rng.append(POSTING.c.effective_date >= date_from)
    if date_to:
        rng.append(POSTING.c.effective_date <= date_to)
    total, period_sum = s.execute(select(func.count(), func.coalesce(func.sum(POSTING.c.amount_fen), 0))
                                  .where(*rng)).one()
    order = (POSTING.c.effective_date, POSTING.c.entry_seq, POSTING.c.id)
    offset = 0 if limit_all is not None else (page - 1) * page_size
    before_page = 0
    if offset:
        inner = select(POSTING.c.amount_fen).where(*rng).order_by(*order).limit(offset).subquery()
        before_page = int(s.execute(select(func.coalesce(func.sum(inner.c.amount_fen), 0))).scalar_one())
    stmt = (
        select(POSTING.c.effective_date, POSTING.c.entry_seq, ENTRY.c.kind, ENTRY.c.memo, FUND.c.code.label("fund"),
               POSTING.c.party, POSTING.c.amount_fen)
        .select_from(POSTING.join(ENTRY, ENTRY.c.seq == POSTING.c.entry_seq).join(FUND, FUND.c.id == POSTING.c.fund_id))
        .where(*rng).order_by(*order)
    )
    if limit_all is not None:
        stmt = stmt.limit(min(limit_all, MAX_EXPORT_ROWS))
    else:
        stmt = stmt.limit(page_size).offset(offset)
    running = opening + before_page
    lines = []
    for r in s.execute(stmt):
        running += int(r.amount_fen)
        lines.append(StatementLine(r.effective_date, r.entry_seq, r.kind, r.memo, r.fund, r.party,
                                   int(r.amount_fen), running))
    return Statement(info, fund, date_from, date_to, opening, opening + int(period_sum),
                     Page(lines, int(total), page, page_size))


@dataclass(frozen=True, slots=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None
    object_type: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None


@dataclass(frozen=True, slots=True)
class AuditRow:
    id: int
    at: dt.datetime
    actor: str | None
    action: str
    object_type: str
    object_id: str | None
    before: str | None
    after: str | None


def list_audit(s: Session, f: AuditFilter, page: int = 1, page_size: int = DEFAULT_PAGE_SIZE,
               limit_all: int | None = None) -> Page:
    page, page_size = clamp_page(page, page_size)
    conds = []
    if f.actor:
        conds.append(USER.c.username == f.actor)
    if f.action:
        conds.append(AUDIT.c.action.startswith(f.action, autoescape=True))
    if f.object_type:
        conds.append(AUDIT.c.object_type == f.object_type)
    if f.date_from:
        conds.append(AUDIT.c.at >= dt.datetime.combine(f.date_from, dt.time()))
    if f.date_to:
        conds.append(AUDIT.c.at < dt.datetime.combine(f.date_to + dt.timedelta(days=1), dt.time()))
    src = AUDIT.outerjoin(USER, USER.c.id == AUDIT.c.actor_id)
    total = s.execute(select(func.count()).select_from(src).where(and_(True, *conds))).scalar_one()
    stmt = (select(AUDIT, USER.c.username).select_from(src).where(and_(True, *conds)).order_by(AUDIT.c.id.desc()))
    stmt = stmt.limit(min(limit_all, MAX_EXPORT_ROWS)) if limit_all is not None else \
        stmt.limit(page_size).offset((page - 1) * page_size)
    items = [AuditRow(r.id, r.at, r.username, r.action, r.object_type, r.object_id, r.before, r.after)
             for r in s.execute(stmt)]
    return Page(items, int(total), page, page_size)


@dataclass(frozen=True, slots=True)
class ChainStatus:
    head_seq: int
    head_hash: str
    last_run_at: dt.datetime | None
    last_run_ok: bool | None
    last_run_message: str | None
    last_run_first_bad_seq: int | None
    last_run_entries: int | None


def chain_status(s: Session) -> ChainStatus:
    seq, h = s.execute(select(HEAD.c.seq, HEAD.c.hash).where(HEAD.c.id == 1)).one()
    run = s.execute(select(VRUN).order_by(VRUN.c.id.desc()).limit(1)).first()
    if run is None:
        return ChainStatus(int(seq), h, None, None, None, None, None)
    return ChainStatus(int(seq), h, run.at, bool(run.ok), run.message, run.first_bad_seq, run.entries_checked)


def entry_kinds(s: Session) -> list[str]:
    return [k for (k,) in s.execute(select(ENTRY.c.kind).distinct().order_by(ENTRY.c.kind))]


def fund_codes(s: Session) -> list[str]:
    return [c for (c,) in s.execute(select(FUND.c.code).order_by(FUND.c.code))]
