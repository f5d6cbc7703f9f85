"""Payment batches (发放批次 / 清册): DESIGN.md §4, §5. Subsidies, public-welfare wages, advances to an
implementer and in-kind deliveries, from the officer's roll to the household's statement.

A batch is one project's roll of one purpose. Its life:

    draft --(公示 published, at least `disclosure_days`)--> disclosed --(approved by another user)--> posted
    draft | disclosed --(rejected with a reason)--> rejected

Preparing (import or entry) checks the whole roll at once: the declared control totals (count and sum)
against the rows, and every row against the registry and the project (the household exists and is not
closed, the payee is an active member, the account is the household's 一卡通 account, the amount is
within the project's standard or the post's wage, nobody is paid twice for one project and period). Any
problem means nothing is written, and every problem names its sheet row, column and value.

The project's standard is per household in total: a household's subsidy and in-kind rows of one project
(live ones, in any batch, and earlier rows of the same roll) add up to at most the standard.

Approval re-checks the rows against the registry as it is that day (someone may have died during the
disclosure), then posts one entry per row in the same transaction as the decision and its audit row
(maker = preparer, checker = approver), dated on the row's pay date or the approval day if that is later
(money never leaves before the notice has run and someone approved it). A project funded from several
sources pays each row from its funds in the stated order: the fund that reached the paying account first
pays first (`fund_order`, `split_by_fund`), and only funds that had arrived by the entry's date, so every
household statement says which source each yuan came from and no as-of balance goes below zero.

The bank's return marks posted rows paid or failed (退票); a failed row is reversed by its own reversal
entry and can be re-issued once, in a re-issue batch (no second disclosure: the payee was disclosed),
which an approver approves like any other. Advances carry no disclosure: their payee is the implementer,
not a household; the implementer's deliveries to households (in kind) are disclosed.

History (`huimin import payments FILE --history --approved-by USER`): rows already paid before the
county adopted Huimin go through the same checks and the same posting code, on their own dates, as
posted and paid batches, with the named approver as checker and a history_record per entry.

Township scope: a scoped user reads, prepares and acts on its own township's projects' batches, and on
county-wide projects' batches that pay only its own township's households (a county-wide roll mixing
townships is the county's to handle). Nothing here deletes.

The database holds the same line behind these services (migrations 0005, 0006): batches and rows are never
deleted; what a batch declared and what a row pays never change; statuses only move forward; a published
disclosure keeps its dates, length and publisher; a household batch is not disclosed-status or posted
without one (history and re-issues aside); the bank's answer on a row (paid, failed, its note and date) and
a rejection are final.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine, and_, bindparam, case, exists, func, or_, select, update
from sqlalchemy.orm import Session

from ledger import audit, bulk, flows, journal
from ledger import history as history_marks
from ledger.chart import ensure_accounts
from ledger.db import read_only, unit_of_work
from ledger.entries import Problem, reversal_of
from ledger.ids import mask_account, mask_id, normalise_account
from ledger.journal import ACCOUNT, BALANCE, ENTRY, FUND, POSTING, LedgerRefusal
from ledger.models import (
    AppUser,
    Household,
    PaymentBatch,
    PaymentRow,
    Person,
    Project,
    Township,
    Village,
    WelfarePost,
    utcnow,
)
from ledger.money import format_money, format_yuan
from ledger.permissions import Actor, PermissionDenied, require
from ledger.queries import DEFAULT_PAGE_SIZE, Page, clamp_page
from ledger.settings import get_settings

BATCH = PaymentBatch.__table__
ROW = PaymentRow.__table__
PROJECT = Project.__table__
HOUSEHOLD = Household.__table__
PERSON = Person.__table__
TOWNSHIP = Township.__table__
VILLAGE = Village.__table__
POST = WelfarePost.__table__
USER = AppUser.__table__

MAX_ROWS_PER_CALL = 200_000  # a county's whole year of one programme fits in one roll
MAX_REASON_LEN = 500
MAX_MEMO_LEN = 500
PAYABLE = ("approved", "implementing")  # project statuses in which a project pays out
HOUSEHOLD_PURPOSES = ("subsidy", "wage", "in_kind")  # paid to a household, so disclosed (公示)
STANDARD_PURPOSES = ("subsidy", "in_kind")  # bounded by the project's standard per household, in total
# Rows that still count as paid (or about to be) when looking for a second payment of the same thing.
LIVE_ROW_STATUSES = ("pending", "posted", "paid")
PURPOSE_NAMES_ZH = {"subsidy": "产业补助", "wage": "公益岗位工资", "in_kind": "实物", "advance": "预付款"}
BATCH_STATUS_NAMES_ZH = {"draft": "草稿", "disclosed": "公示中", "posted": "已入账", "rejected": "已驳回"}
ROW_STATUS_NAMES_ZH = {"pending": "待审批", "posted": "已入账", "paid": "已支付", "failed": "退票",
                       "rejected": "已驳回"}
RETURN_RESULTS = ("paid", "failed")


def disclosure_days_minimum() -> int:
    """The county's rule (HUIMIN_DISCLOSURE_DAYS, at least 1); the policy default is 10 days."""
    days = get_settings().disclosure_days
    assert days >= 1, "a disclosure lasts at least a day"
    return days


# ---------------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True, slots=True)
class PaymentIn:
    """One row of the payments template (§8). `household_no` is None only for an advance."""

    ref: str
    batch_no: str
    project_code: str
    household_no: str | None
    payee_id_number: str | None
    payee_name: str
    bank_account: str | None
    amount_fen: int
    paid_on: dt.date
    purpose: str
    period: str | None = None  # 'YYYY-MM'
    item: str | None = None
    quantity: int | None = None
    unit_price_fen: int | None = None
    row: int | None = None


@dataclass(frozen=True, slots=True)
class BankReturnIn:
    """One line of the bank's return file: was this payment credited to the card (paid) or not (failed)?"""

    ref: str
    result: str  # 'paid' | 'failed'
    returned_on: dt.date
    note: str | None = None
    row: int | None = None


# ---------------------------------------------------------------------------------------------
# Pure rules


def fund_order(first_in: Mapping[str, dt.date]) -> list[str]:
    """The stated order in which a multi-source account pays: the fund whose money arrived first pays
    first (the earliest allocation), ties broken by fund code so that the order is always the same."""
    return sorted(first_in, key=lambda fund: (first_in[fund], fund))


def split_by_fund(amount_fen: int, available: Sequence[tuple[str, int]]
                  ) -> tuple[tuple[tuple[str, int], ...], tuple[tuple[str, int], ...]] | None:
    """Take `amount_fen` from the funds in order: (the parts taken, what remains of each fund).
    None when all the funds together hold less than the amount (nothing is taken)."""
    assert amount_fen > 0
    if sum(max(fen, 0) for _, fen in available) < amount_fen:
        return None
    parts: list[tuple[str, int]] = []
    remaining: list[tuple[str, int]] = []
    due = amount_fen
    for fund, fen in available:
        take = min(due, max(fen, 0))
        if take:
            parts.append((fund, take))
            due -= take
        remaining.append((fund, fen - take))
    assert due == 0 and sum(p for _, p in parts) == amount_fen
    return tuple(parts), tuple(remaining)


def control_total_problems(declared_count: int | None, declared_total_fen: int | None, count: int,
                           total_fen: int) -> list[Problem]:
    """A roll's cover sheet declares how many rows and how much; both must match what the rows say."""
    problems = []
    if declared_count is not None and declared_count != count:
        problems.append(Problem("file", "count", str(declared_count),
                                f"the roll declares {declared_count} rows but holds {count}"))
    if declared_total_fen is not None and declared_total_fen != total_fen:
        problems.append(Problem("file", "total", format_yuan(declared_total_fen),
                                f"the roll declares {format_money(declared_total_fen)} but its rows sum to "
                                f"{format_money(total_fen)}"))
    return problems


def disclosure_until(disclosed_on: dt.date, days: int) -> dt.date:
    """The first day on which a batch disclosed on `disclosed_on` for `days` full days may be approved."""
    assert days >= 0
    return disclosed_on + dt.timedelta(days=days)


@dataclass(frozen=True, slots=True)
class ProjectFacts:
    id: int
    code: str
    name: str
    status: str
    industry: str
    township: str | None
    implementer: str | None
    standard_fen: int | None
    account_code: str


@dataclass(frozen=True, slots=True)
class HouseholdFacts:
    id: int
    household_no: str
    township_code: str
    township_name: str
    status: str
    bank_account: str | None


@dataclass(frozen=True, slots=True)
class PostFacts:
    post_type: str
    project_id: int
    monthly_wage_fen: int
    start_on: dt.date
    end_on: dt.date | None


@dataclass
class Facts:
    """What the registry and the library say about the rows of one call (looked up in bulk)."""

    projects: dict[str, ProjectFacts] = field(default_factory=dict)
    households: dict[str, HouseholdFacts] = field(default_factory=dict)
    members: dict[str, tuple[int, str]] = field(default_factory=dict)  # active id_number -> (household id, name)
    posts: dict[int, list[PostFacts]] = field(default_factory=dict)  # household id -> its posts
    # (household id, project id, purpose, period) -> ref of a live row already recorded
    paid: dict[tuple[int, int, str, str | None], str] = field(default_factory=dict)
    # (household id, project id) -> fen of live subsidy and in-kind rows: the standard is per household
    received: dict[tuple[int, int], int] = field(default_factory=dict)


def _month_bounds(period: str) -> tuple[dt.date, dt.date]:
    year, month = int(period[:4]), int(period[5:7])
    first = dt.date(year, month, 1)
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    return first, nxt - dt.timedelta(days=1)


def post_for(posts: Iterable[PostFacts], period: str | None, on: dt.date) -> PostFacts | None:
    """The post a household held in the wage's month (or on its pay date when no month is given)."""
    first, last = _month_bounds(period) if period else (on, on)
    for p in posts:
        if p.start_on <= last and (p.end_on is None or p.end_on >= first):
            return p
    return None


# Words the payment pages use as paths (/payments/export): a batch so numbered could not be opened.
RESERVED_BATCH_NOS = frozenset({"export"})
RESERVED_BATCH_NO_MESSAGE = "this word is reserved for the payment pages; choose another batch number"


def row_problems(r: PaymentIn, facts: Facts, actor_township: str | None = None) -> list[Problem]:
    """Every reason this row cannot be paid as written. Pure: `facts` holds what the database said."""
    where = f"row {r.row}" if r.row is not None else f"payment {r.ref}"
    out: list[Problem] = []

    def bad(field_: str, value: object, message: str) -> None:
        out.append(Problem(where, field_, "" if value is None else str(value), message, row=r.row))

    p = facts.projects.get(r.project_code)
    if p is None:
        bad("project_code", r.project_code, "no such project in the project library")
        return out
    if p.status not in PAYABLE:
        bad("project_code", r.project_code, f"the project is {p.status}: only an approved or implementing project "
                                            "pays out")
    if actor_township is not None and p.township not in (None, actor_township):
        bad("project_code", r.project_code, "the project belongs to another township")
    if (r.purpose == "wage") != (p.industry == "welfare_post"):
        bad("purpose", r.purpose, "wages are paid from a public-welfare-post project, and such a project pays wages "
                                  "only")
    if r.purpose in ("advance", "in_kind") and not p.implementer:
        bad("project_code", r.project_code, "the project names no implementer (实施主体) to advance to or deliver")
    if r.purpose == "advance":
        return out
    h = facts.households.get(r.household_no or "")
    if h is None:
        bad("household_no", r.household_no, "no such household in the registry")
        return out
    if h.status == "closed":
        bad("household_no", r.household_no, "the household is closed (注销)")
    # A county-wide project pays every township, but a township's officer prepares only its own households.
    if actor_township is not None and actor_township not in (h.township_code, h.township_name):
        bad("household_no", r.household_no, "the household belongs to another township")
    if p.township is not None and p.township not in (h.township_code, h.township_name):
        bad("household_no", r.household_no, f"the household is in {h.township_name}, the project in {p.township}")
    member = facts.members.get(r.payee_id_number or "")
    if member is None or member[0] != h.id:
        bad("payee_id_number", r.payee_id_number, f"not an active member of household {h.household_no}")
    elif member[1] != r.payee_name:
        bad("payee_name", r.payee_name, f"the registry names this person {member[1]}")
    account = normalise_account(r.bank_account or "")
    if r.purpose != "in_kind" and not account:
        bad("bank_account", r.bank_account, "a cash payment names the household's 一卡通 account")
    elif r.purpose != "in_kind" and account != (h.bank_account or ""):
        known = mask_account(h.bank_account) if h.bank_account else "none"
        bad("bank_account", r.bank_account, f"not the household's 一卡通 account in the registry ({known}); "
                                            "correct the registry first")
    before = facts.received.get((h.id, p.id), 0)
    if r.purpose in STANDARD_PURPOSES and p.standard_fen is not None and before + r.amount_fen > p.standard_fen:
        already = f" with the {format_money(before)} it has already received" if before else ""
        bad("amount", format_yuan(r.amount_fen), f"above the project's standard of {format_money(p.standard_fen)} "
                                                 f"per household{already}")
    if r.purpose == "in_kind" and r.quantity is not None and r.unit_price_fen is not None \
            and r.quantity * r.unit_price_fen != r.amount_fen:
        bad("amount", format_yuan(r.amount_fen), f"quantity {r.quantity} × unit price {format_money(r.unit_price_fen)}"
                                                 f" is {format_money(r.quantity * r.unit_price_fen)}")
    if r.purpose == "wage" and p.industry == "welfare_post":
        if not r.period:
            bad("period", r.period, "a wage names the month it pays (YYYY-MM)")
        post = post_for(facts.posts.get(h.id, ()), r.period, r.paid_on)
        if post is None:
            bad("household_no", r.household_no, f"the household held no public-welfare post in {r.period}")
        elif post.project_id != p.id:
            bad("project_code", r.project_code, "the household's post is paid from another project")
        elif r.amount_fen > post.monthly_wage_fen:
            bad("amount", format_yuan(r.amount_fen), f"above the post's monthly wage of "
                                                     f"{format_money(post.monthly_wage_fen)}")
    key = (h.id, p.id, r.purpose, r.period)
    other = facts.paid.get(key)
    if other is not None and other != r.ref:
        bad("household_no", r.household_no, f"already paid for this project and period (ref {other})")
    return out


def check_rows(rows: Sequence[PaymentIn], facts: Facts, actor_township: str | None = None) -> list[Problem]:
    """`row_problems` for a whole roll, in order: each row also counts against the rows before it (the
    same household twice for one period, or past the standard together). Updates `facts`."""
    out: list[Problem] = []
    for r in rows:
        out.extend(row_problems(r, facts, actor_township))
        h = facts.households.get(r.household_no or "")
        p = facts.projects.get(r.project_code)
        if h is not None and p is not None:
            facts.paid.setdefault((h.id, p.id, r.purpose, r.period), r.ref)
            if r.purpose in STANDARD_PURPOSES:
                facts.received[(h.id, p.id)] = facts.received.get((h.id, p.id), 0) + r.amount_fen
    return out


def debit_account(purpose: str, project: ProjectFacts, post_type: str | None) -> str:
    if purpose == "advance":
        return flows.advance_account(project.code)
    if purpose == "wage":
        return flows.expense_account("wage", post_type or "general")
    return flows.expense_account(purpose, project.industry)


def credit_account(purpose: str, project: ProjectFacts) -> str:
    # In kind, the goods were bought with the implementer's advance: delivering them spends the advance.
    return flows.advance_account(project.code) if purpose == "in_kind" else project.account_code


# ---------------------------------------------------------------------------------------------
# Database look-ups (bulk; chunked IN lists)


def _in_chunks(s: Session, stmt_of, values: Iterable) -> list:
    values = sorted(set(values))
    out: list = []
    for i in range(0, len(values), bulk.LOOKUP_CHUNK):
        out.extend(s.execute(stmt_of(values[i:i + bulk.LOOKUP_CHUNK])).all())
    return out


def _project_facts(s: Session, codes: Iterable[str]) -> dict[str, ProjectFacts]:
    rows = _in_chunks(s, lambda chunk: select(
        PROJECT.c.id, PROJECT.c.project_code, PROJECT.c.name, PROJECT.c.status, PROJECT.c.industry,
        PROJECT.c.township, PROJECT.c.implementer, PROJECT.c.standard_fen, PROJECT.c.account_code,
    ).where(PROJECT.c.project_code.in_(chunk)), codes)
    return {r.project_code: ProjectFacts(int(r.id), r.project_code, r.name, r.status, r.industry, r.township,
                                         r.implementer, r.standard_fen, r.account_code) for r in rows}


def _facts(s: Session, rows: Sequence[PaymentIn], exclude_batch_ids: Iterable[int] = ()) -> Facts:
    f = Facts(projects=_project_facts(s, {r.project_code for r in rows}))
    for r in _in_chunks(s, lambda chunk: select(
            HOUSEHOLD.c.id, HOUSEHOLD.c.household_no, HOUSEHOLD.c.status, HOUSEHOLD.c.bank_account,
            TOWNSHIP.c.code, TOWNSHIP.c.name).select_from(HOUSEHOLD.join(TOWNSHIP, TOWNSHIP.c.id ==
                                                                          HOUSEHOLD.c.township_id))
            .where(HOUSEHOLD.c.household_no.in_(chunk)), {r.household_no for r in rows if r.household_no}):
        f.households[r.household_no] = HouseholdFacts(int(r.id), r.household_no, r.code, r.name, r.status,
                                                      r.bank_account)
    for r in _in_chunks(s, lambda chunk: select(PERSON.c.id_number, PERSON.c.household_id, PERSON.c.name)
                        .where(PERSON.c.is_active, PERSON.c.id_number.in_(chunk)),
                        {r.payee_id_number for r in rows if r.payee_id_number}):
        f.members[r.id_number] = (int(r.household_id), r.name)
    household_ids = [h.id for h in f.households.values()]
    if any(r.purpose == "wage" for r in rows):
        for r in _in_chunks(s, lambda chunk: select(POST.c.household_id, POST.c.post_type, POST.c.project_id,
                                                    POST.c.monthly_wage_fen, POST.c.start_on, POST.c.end_on)
                            .where(POST.c.household_id.in_(chunk)).order_by(POST.c.start_on), household_ids):
            f.posts.setdefault(int(r.household_id), []).append(
                PostFacts(r.post_type, int(r.project_id), int(r.monthly_wage_fen), r.start_on, r.end_on))
    excluded = list(exclude_batch_ids)
    project_ids = {p.id for p in f.projects.values()}
    for r in _in_chunks(s, lambda chunk: select(ROW.c.household_id, BATCH.c.project_id, BATCH.c.purpose,
                                                ROW.c.period, ROW.c.ref, ROW.c.amount_fen)
                        .select_from(ROW.join(BATCH, BATCH.c.id == ROW.c.batch_id))
                        .where(ROW.c.household_id.in_(chunk), ROW.c.status.in_(LIVE_ROW_STATUSES),
                               BATCH.c.id.not_in(excluded) if excluded else True),
                        household_ids):
        if int(r.project_id) in project_ids:
            f.paid.setdefault((int(r.household_id), int(r.project_id), r.purpose, r.period), r.ref)
            if r.purpose in STANDARD_PURPOSES:
                key = (int(r.household_id), int(r.project_id))
                f.received[key] = f.received.get(key, 0) + int(r.amount_fen)
    return f


def _available(s: Session, accounts: Iterable[str]) -> dict[str, list[tuple[str, int, dt.date]]]:
    """Per paying account: (fund, balance, first arrival) in the stated order (first arrival first)."""
    out: dict[str, list[tuple[str, int, dt.date]]] = {}
    for code in sorted(set(accounts)):
        acc = s.execute(select(ACCOUNT.c.id).where(ACCOUNT.c.code == code)).scalar()
        if acc is None:
            out[code] = []
            continue
        balances = {r.code: int(r.balance_fen) for r in s.execute(
            select(FUND.c.code, BALANCE.c.balance_fen).select_from(BALANCE.join(FUND, FUND.c.id == BALANCE.c.fund_id))
            .where(BALANCE.c.account_id == acc))}
        # The first day money arrived in each fund: the (account, fund, date) index answers it.
        first_in = {r.code: r.first for r in s.execute(
            select(FUND.c.code, func.min(POSTING.c.effective_date).label("first"))
            .select_from(POSTING.join(FUND, FUND.c.id == POSTING.c.fund_id))
            .where(POSTING.c.account_id == acc, POSTING.c.amount_fen > 0).group_by(FUND.c.code))}
        out[code] = [(fund, balances.get(fund, 0), first_in[fund]) for fund in fund_order(first_in)]
    return out


@dataclass(frozen=True, slots=True)
class _ToPost:
    ref: str
    batch_no: str
    purpose: str
    project: ProjectFacts
    household_no: str | None
    payee_name: str
    amount_fen: int
    paid_on: dt.date
    post_type: str | None
    row: int | None


def _post_rows(s: Session, rows: Sequence[_ToPost], maker_id: int, checker_id: int,
               not_before: dt.date | None = None) -> list[int]:
    """Post one entry per row (split by fund in the stated order); their seqs, in order. All or nothing.

    An entry is dated on the row's pay date, or `not_before` (the approval) if that is later: money
    leaves the project only once the batch is approved. A fund pays a row only if its money had arrived
    by that date, so no as-of balance of the project goes below zero and no statement names a source
    that was not there yet."""
    # The journal's head first, as journal.post takes it, before reading the balances to split by fund:
    # every poster queues on it, so a second approval on the same project splits what the first left
    # (not stale balances the journal would then refuse), and no poster holds balance rows while
    # waiting for the head (the order journal.post and a bank return's reversals take them in).
    journal.lock_head(s)
    pools = _available(s, (credit_account(r.purpose, r.project) for r in rows))
    drafts, labels, problems = [], [], []
    for r in rows:
        paying = credit_account(r.purpose, r.project)
        on = max(r.paid_on, not_before) if not_before else r.paid_on
        where = f"row {r.row}" if r.row is not None else f"payment {r.ref}"
        pool = pools[paying]
        usable = [(fund, fen) for fund, fen, first in pool if first <= on]
        split = split_by_fund(r.amount_fen, usable)
        if split is None:
            held = sum(max(fen, 0) for _, fen in usable)
            what = "the implementer's undelivered advance" if r.purpose == "in_kind" else f"project {r.project.code}"
            problems.append(Problem(where, "amount", format_yuan(r.amount_fen),
                                    f"{what} holds {format_money(held)} for the rest of this roll", row=r.row))
            continue
        parts, _ = split
        taken = dict(parts)
        pools[paying] = [(fund, fen - taken.get(fund, 0), first) for fund, fen, first in pool]
        drafts.append(flows.payment(
            f"pay:{r.ref}", r.purpose, debit_account(r.purpose, r.project, r.post_type), paying, parts, on,
            f"{r.batch_no} {r.payee_name} {PURPOSE_NAMES_ZH[r.purpose]}", r.household_no, maker_id, checker_id))
        labels.append(where)
    if problems:
        raise LedgerRefusal(problems)
    first_use: dict[str, dt.date] = {}
    for d in drafts:
        for p in d.postings:
            first_use[p.account] = min(first_use.get(p.account, d.effective_date), d.effective_date)
    ensure_accounts(s, first_use)
    seqs: list[int] = []
    for i in range(0, len(drafts), journal.MAX_DRAFTS_PER_CALL):
        chunk = slice(i, i + journal.MAX_DRAFTS_PER_CALL)
        try:
            posted = journal.post(s, drafts[chunk], labels=labels[chunk])
        except LedgerRefusal as exc:
            raise LedgerRefusal([Problem(p.where, p.field, p.value, p.message, row=_row_of(p.where))
                                 for p in exc.problems]) from None
        seqs.extend(p.seq for p in posted)
    return seqs


def _masked(p: Problem) -> Problem:
    if p.field.endswith("id_number") and p.value:
        return dataclasses.replace(p, value=mask_id(p.value))
    if p.field == "bank_account" and p.value:
        return dataclasses.replace(p, value=mask_account(p.value))
    return p


def _row_of(where: str) -> int | None:
    head, _, rest = where.partition(" ")
    return int(rest) if head == "row" and rest.isdigit() else None


def _scope(actor: Actor) -> str | None:
    return (actor.township or "").strip() or None


_PG_LOCK_KEY = 0x4875696D696E_05  # payments' own advisory lock (ledger.registry holds _01)


def _lock(s: Session) -> None:
    """Preparing queues on one transaction-level lock on PostgreSQL, so that two imports of the same roll
    (or two re-issues of one row) do not both pass the checks and meet at a unique index: the second
    waits, then finds the first's rows (a no-op, or a clear refusal). SQLite's BEGIN IMMEDIATE already
    serialises writers."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(select(func.pg_advisory_xact_lock(_PG_LOCK_KEY)))


# ---------------------------------------------------------------------------------------------
# Preparing: the import (and the API's entry of a roll)


_SAME = ("batch_no", "household_no", "payee_id_number", "amount_fen", "paid_on", "purpose", "period")


def import_payments(engine: Engine, actor: Actor, rows: Sequence[PaymentIn], *, declared_count: int | None,
                    declared_total_fen: int | None, history: history_marks.HistoryMark | None = None,
                    file_sha256: str | None = None, memo: str = "") -> dict:
    """Prepare the batches a roll holds (or, as history, record them as paid): all or nothing.

    Re-importing the same roll is a no-op: rows are known by `ref`; the same ref with other details is a
    conflict. A batch is imported whole: rows cannot be added to a batch that exists.
    """
    require(actor, "payment.prepare")
    if history is not None:
        require(actor, "payment.history")
    assert len(rows) <= MAX_ROWS_PER_CALL, "split the roll"
    with bulk.collector_paused():
        return _import_payments(engine, actor, rows, declared_count, declared_total_fen, history, file_sha256, memo)


def _import_payments(engine: Engine, actor: Actor, rows: Sequence[PaymentIn], declared_count: int | None,
                     declared_total_fen: int | None, history: history_marks.HistoryMark | None,
                     file_sha256: str | None, memo: str) -> dict:
    problems: list[Problem] = []
    if not rows:
        raise LedgerRefusal([Problem("file", "rows", "0", "the roll has no rows")])
    if history is None and (declared_count is None or declared_total_fen is None):
        problems.append(Problem("file", "count", "", "declare the roll's control totals: how many rows and their sum "
                                                     "(--count N --total YUAN)"))
    problems.extend(control_total_problems(declared_count, declared_total_fen, len(rows),
                                           sum(r.amount_fen for r in rows)))
    if history is None and any(r.purpose == "advance" for r in rows):
        problems.extend(Problem(f"row {r.row}", "purpose", r.purpose, "advances are entered one at a time", row=r.row)
                        for r in rows if r.purpose == "advance")
    # A batch is one project's roll of one purpose.
    first_of: dict[str, PaymentIn] = {}
    for r in rows:
        if r.batch_no in RESERVED_BATCH_NOS and r.batch_no not in first_of:  # once a batch, on its first row
            problems.append(Problem(f"row {r.row}", "batch_no", r.batch_no, RESERVED_BATCH_NO_MESSAGE, row=r.row))
        first = first_of.setdefault(r.batch_no, r)
        for name in ("project_code", "purpose"):
            if getattr(r, name) != getattr(first, name):
                problems.append(Problem(f"row {r.row}", name, getattr(r, name),
                                        f"batch {r.batch_no} is {getattr(first, name)} (row {first.row}); one batch "
                                        "is one project's roll of one purpose", row=r.row))
    with unit_of_work(engine) as s:
        _lock(s)
        checker = history_marks.approver(s, actor, "payments", history.approved_by) if history else None
        existing = {r.ref: r for r in _in_chunks(s, lambda chunk: select(
            ROW.c.ref, BATCH.c.batch_no, HOUSEHOLD.c.household_no, ROW.c.payee_id_number, ROW.c.amount_fen,
            ROW.c.paid_on, BATCH.c.purpose, ROW.c.period, BATCH.c.is_history).select_from(
            ROW.join(BATCH, BATCH.c.id == ROW.c.batch_id).outerjoin(HOUSEHOLD, HOUSEHOLD.c.id == ROW.c.household_id))
            .where(ROW.c.ref.in_(chunk)), [r.ref for r in rows])}
        batches = {r.batch_no: r for r in s.execute(select(BATCH.c.id, BATCH.c.batch_no, BATCH.c.status).where(
            BATCH.c.batch_no.in_(sorted(first_of))))} if len(first_of) <= bulk.LOOKUP_CHUNK else {
            r.batch_no: r for r in _in_chunks(s, lambda chunk: select(BATCH.c.id, BATCH.c.batch_no, BATCH.c.status)
                                              .where(BATCH.c.batch_no.in_(chunk)), first_of)}
        fresh: list[PaymentIn] = []
        for r in rows:
            old = existing.get(r.ref)
            if old is None:
                if r.batch_no in batches:
                    problems.append(Problem(f"row {r.row}", "batch_no", r.batch_no,
                                            "this batch is already recorded; new rows go in a new batch", row=r.row))
                fresh.append(r)
                continue
            if bool(old.is_history) != (history is not None):
                problems.append(Problem(f"row {r.row}", "ref", r.ref, f"ref {r.ref} is already recorded as "
                                        + ("history" if old.is_history else "today's work (a batch in Huimin)"),
                                        row=r.row))
                continue
            mine = (r.batch_no, r.household_no, r.payee_id_number, r.amount_fen, r.paid_on, r.purpose, r.period)
            theirs = tuple(getattr(old, n) for n in _SAME)
            if mine != theirs:
                diff = next(n for n, a, b in zip(_SAME, mine, theirs, strict=True) if a != b)
                was = theirs[_SAME.index(diff)]
                if diff == "amount_fen":  # an officer reads yuan, as in the sheet's amount column
                    diff, was = "amount", format_yuan(was)
                problems.append(Problem(f"row {r.row}", "ref", r.ref, f"ref {r.ref} is already recorded with another "
                                        f"{diff} ({was})", row=r.row))
        facts = _facts(s, fresh)
        scope = _scope(actor)
        problems.extend(check_rows(fresh, facts, scope))
        if problems:
            problems.sort(key=lambda p: (p.row or 0, p.field))
            raise LedgerRefusal(problems)
        summary = {"batches_created": 0, "rows_created": len(fresh), "rows_already_recorded": len(rows) - len(fresh),
                   "total": format_yuan(sum(r.amount_fen for r in fresh)), "entries_posted": 0}
        if not fresh:
            return summary
        now = utcnow()
        by_batch: dict[str, list[PaymentIn]] = defaultdict(list)
        for r in fresh:
            by_batch[r.batch_no].append(r)
        batch_ids: dict[str, int] = {}
        for batch_no, members in by_batch.items():
            p = facts.projects[members[0].project_code]
            values = dict(batch_no=batch_no, project_id=p.id, purpose=members[0].purpose, status="draft",
                          declared_count=len(members), declared_total_fen=sum(m.amount_fen for m in members),
                          memo=memo[:MAX_MEMO_LEN], is_history=history is not None, is_reissue=False,
                          source_sha256=file_sha256, prepared_by=actor.user_id, prepared_at=now, disclosure_days=0)
            if history is not None:
                values.update(status="posted", decided_by=checker.user_id, decided_at=now)
            batch_ids[batch_no] = s.execute(BATCH.insert().values(**values).returning(BATCH.c.id)).scalar_one()
        seqs: list[int | None] = [None] * len(fresh)
        if history is not None:
            to_post = [_ToPost(r.ref, r.batch_no, r.purpose, facts.projects[r.project_code], r.household_no,
                               r.payee_name, r.amount_fen, r.paid_on, _post_type(facts, r), r.row) for r in fresh]
            seqs = _post_rows(s, to_post, actor.user_id, checker.user_id)
            history_marks.mark(s, "payments", file_sha256 or history.file_sha256, actor, checker,
                               zip(seqs, (r.row for r in fresh), strict=True), new_entries=True)
            summary["entries_posted"] = len(seqs)
        # Through the driver's cursor (ledger.bulk): a roll is up to MAX_ROWS_PER_CALL rows.
        bulk.insert_dicts(s.connection(), ROW, [dict(
            batch_id=batch_ids[r.batch_no], ref=r.ref, row_no=r.row,
            household_id=facts.households[r.household_no].id if r.household_no else None,
            payee_id_number=r.payee_id_number, payee_name=r.payee_name,
            bank_account=normalise_account(r.bank_account) if r.bank_account else None, amount_fen=r.amount_fen,
            paid_on=r.paid_on, period=r.period, item=r.item, quantity=r.quantity, unit_price_fen=r.unit_price_fen,
            status="paid" if history is not None else "pending", entry_seq=seq, reversal_seq=None,
            returned_on=r.paid_on if history is not None else None) for r, seq in zip(fresh, seqs, strict=True)])
        summary["batches_created"] = len(by_batch)
        audit.record(s, actor, "payment.history" if history else "payment.prepare", "payment_batch",
                     ",".join(sorted(by_batch))[:128], after=summary | {
                         "batches": sorted(by_batch), "approved_by": checker.username if checker else None,
                         "source_sha256": file_sha256})
    return summary


def _post_type(facts: Facts, r: PaymentIn) -> str | None:
    if r.purpose != "wage":
        return None
    h = facts.households.get(r.household_no or "")
    post = post_for(facts.posts.get(h.id, ()), r.period, r.paid_on) if h else None
    return post.post_type if post else None


def prepare_advance(engine: Engine, actor: Actor, batch_no: str, ref: str, project_code: str, amount_fen: int,
                    on: dt.date, memo: str = "") -> BatchView:
    """预付款: a batch of one row paying the project's implementer, to deliver goods to households later.
    No disclosure (the payee is an enterprise); approved by another user like any batch."""
    require(actor, "payment.prepare")
    if amount_fen <= 0:
        raise LedgerRefusal([Problem("advance", "amount", format_yuan(amount_fen), "an advance is a positive amount")])
    with unit_of_work(engine) as s:
        facts = Facts(projects=_project_facts(s, [project_code]))
        p = facts.projects.get(project_code)
        r = PaymentIn(ref, batch_no, project_code, None, None, (p.implementer if p else None) or "", None, amount_fen,
                      on, "advance")
        _lock(s)
        problems = row_problems(r, facts, _scope(actor))
        old = s.execute(select(ROW.c.ref, ROW.c.amount_fen, BATCH.c.batch_no).select_from(
            ROW.join(BATCH, BATCH.c.id == ROW.c.batch_id)).where(ROW.c.ref == ref)).first()
        if old is not None:
            if (old.amount_fen, old.batch_no) == (amount_fen, batch_no) and not problems:
                return _batch_view(s, batch_no)
            problems.append(Problem("advance", "ref", ref, "this ref is already recorded with other details"))
        elif s.execute(select(BATCH.c.id).where(BATCH.c.batch_no == batch_no)).first() is not None:
            problems.append(Problem("advance", "batch_no", batch_no, "this batch number is taken"))
        elif batch_no in RESERVED_BATCH_NOS:
            problems.append(Problem("advance", "batch_no", batch_no, RESERVED_BATCH_NO_MESSAGE))
        if problems:
            raise LedgerRefusal(problems)
        batch_id = s.execute(BATCH.insert().values(
            batch_no=batch_no, project_id=p.id, purpose="advance", status="draft", declared_count=1,
            declared_total_fen=amount_fen, memo=memo[:MAX_MEMO_LEN], is_history=False, is_reissue=False,
            prepared_by=actor.user_id, prepared_at=utcnow(), disclosure_days=0).returning(BATCH.c.id)).scalar_one()
        s.execute(ROW.insert().values(batch_id=batch_id, ref=ref, payee_name=p.implementer, amount_fen=amount_fen,
                                      paid_on=on, status="pending"))
        audit.record(s, actor, "payment.prepare", "payment_batch", batch_no,
                     after={"purpose": "advance", "project": project_code, "amount": format_yuan(amount_fen)})
        return _batch_view(s, batch_no)


# ---------------------------------------------------------------------------------------------
# Disclosure, approval, rejection


def _rows_outside(scope: str, batch_id):
    """Some row of the batch pays a household of another township than `scope`."""
    return exists(select(ROW.c.id).select_from(
        ROW.join(HOUSEHOLD, HOUSEHOLD.c.id == ROW.c.household_id)
        .join(TOWNSHIP, TOWNSHIP.c.id == HOUSEHOLD.c.township_id))
        .where(ROW.c.batch_id == batch_id, TOWNSHIP.c.code != scope, TOWNSHIP.c.name != scope))


def _batch_visible(actor: Actor):
    """Township scope of batches: a scoped user's own township's projects, and the batches of county-wide
    projects that pay only its own township's households (a county-wide roll mixing townships belongs to
    the county's officers: a township officer would otherwise read and act on other townships' rows)."""
    scope = _scope(actor)
    if scope is None:
        return True
    return or_(PROJECT.c.township == scope, and_(PROJECT.c.township.is_(None), ~_rows_outside(scope, BATCH.c.id)))


def _batch_for_update(s: Session, actor: Actor, batch_no: str):
    stmt = select(BATCH, PROJECT.c.project_code, PROJECT.c.township).select_from(
        BATCH.join(PROJECT, PROJECT.c.id == BATCH.c.project_id)).where(BATCH.c.batch_no == batch_no,
                                                                      _batch_visible(actor))
    if s.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=BATCH)
    b = s.execute(stmt).first()
    if b is None:
        raise LedgerRefusal([Problem("batch", "batch_no", batch_no, "no such batch")])
    return b


MAX_BACKDATE_DAYS = 30  # a notice put up on paper before it was recorded here, at most this long ago


def disclose_batch(engine: Engine, actor: Actor, batch_no: str, on: dt.date, days: int | None = None,
                   today: dt.date | None = None) -> BatchView:
    """Publish the 公示: from `on`, for `days` (at least the county's minimum); the public page lists it.

    `on` may lie up to MAX_BACKDATE_DAYS in the past (the notice went up on the village board before the
    officer recorded it), never in the future, and never so far back that the waiting period is skipped
    for a notice nobody could have seen."""
    require(actor, "payment.disclose")
    today = today or dt.date.today()
    minimum = disclosure_days_minimum()
    days = minimum if days is None else days
    if not today - dt.timedelta(days=MAX_BACKDATE_DAYS) <= on <= today:
        raise LedgerRefusal([Problem("batch", "start_on", on.isoformat(), f"a disclosure starts today or at most "
                                                                         f"{MAX_BACKDATE_DAYS} days ago")])
    with unit_of_work(engine) as s:
        b = _batch_for_update(s, actor, batch_no)
        if b.status != "draft" or b.is_history:
            raise LedgerRefusal([Problem("batch", "status", b.status, "only a draft batch is disclosed")])
        if b.purpose not in HOUSEHOLD_PURPOSES or b.is_reissue:
            raise LedgerRefusal([Problem("batch", "purpose", b.purpose, "an advance or a re-issue is not disclosed "
                                                                        "again; it goes to approval")])
        if days < minimum:
            raise LedgerRefusal([Problem("batch", "days", str(days), f"a disclosure lasts at least {minimum} days")])
        until = disclosure_until(on, days)
        s.execute(update(BATCH).where(BATCH.c.id == b.id).values(status="disclosed", disclosure_days=days,
                                                                 disclosed_on=on, disclosure_until=until,
                                                                 disclosed_by=actor.user_id))
        audit.record(s, actor, "payment.disclose", "payment_batch", batch_no,
                     before={"status": "draft"}, after={"status": "disclosed", "from": on.isoformat(),
                                                        "until": until.isoformat(), "days": days})
        return _batch_view(s, batch_no)


def _decider_check(actor: Actor, b) -> None:
    require(actor, "payment.approve")
    if b.prepared_by == actor.user_id:
        raise PermissionDenied(actor, "payment.approve (a batch is decided by someone other than its preparer)")


def approve_batch(engine: Engine, actor: Actor, batch_no: str, today: dt.date | None = None) -> BatchView:
    """Approve and post: every row re-checked against today's registry, one entry per row, in one commit."""
    require(actor, "payment.approve")
    today = today or dt.date.today()
    with unit_of_work(engine) as s:
        b = _batch_for_update(s, actor, batch_no)
        _decider_check(actor, b)
        if b.status not in ("draft", "disclosed"):
            raise LedgerRefusal([Problem("batch", "status", b.status, "this batch is already decided")])
        needs_disclosure = b.purpose in HOUSEHOLD_PURPOSES and not b.is_reissue
        if needs_disclosure and b.status != "disclosed":
            raise LedgerRefusal([Problem("batch", "status", b.status, "publish the disclosure (公示) first")])
        if needs_disclosure and today < b.disclosure_until:
            raise LedgerRefusal([Problem("batch", "disclosure_until", b.disclosure_until.isoformat(),
                                         f"the disclosure runs until {b.disclosure_until - dt.timedelta(days=1)}; "
                                         f"approve on or after {b.disclosure_until}")])
        rows = s.execute(select(ROW, HOUSEHOLD.c.household_no).select_from(
            ROW.outerjoin(HOUSEHOLD, HOUSEHOLD.c.id == ROW.c.household_id))
            .where(ROW.c.batch_id == b.id, ROW.c.status == "pending").order_by(ROW.c.id)).all()
        inputs = [PaymentIn(r.ref, batch_no, b.project_code, r.household_no, r.payee_id_number, r.payee_name,
                            r.bank_account, int(r.amount_fen), r.paid_on, b.purpose, r.period, r.item, r.quantity,
                            r.unit_price_fen, r.row_no) for r in rows]
        facts = _facts(s, inputs, exclude_batch_ids=[b.id])
        problems = check_rows(inputs, facts, _scope(actor))
        if problems:
            # The approver reads ID and account numbers in their masked (公示) form only.
            raise LedgerRefusal([_masked(p) for p in problems])
        to_post = [_ToPost(r.ref, batch_no, r.purpose, facts.projects[r.project_code], r.household_no, r.payee_name,
                           r.amount_fen, r.paid_on, _post_type(facts, r), r.row) for r in inputs]
        seqs = _post_rows(s, to_post, b.prepared_by, actor.user_id, not_before=today)
        s.execute(update(ROW).where(ROW.c.id == bindparam("row_id")).values(status="posted",
                                                                          entry_seq=bindparam("seq")),
                  [{"row_id": row.id, "seq": seq} for row, seq in zip(rows, seqs, strict=True)])
        s.execute(update(BATCH).where(BATCH.c.id == b.id).values(status="posted", decided_by=actor.user_id,
                                                                 decided_at=utcnow()))
        audit.record(s, actor, "payment.approve", "payment_batch", batch_no, before={"status": b.status},
                     after={"status": "posted", "rows": len(rows), "entries": [min(seqs), max(seqs)] if seqs else [],
                            "total": format_yuan(sum(r.amount_fen for r in inputs))})
        return _batch_view(s, batch_no)


def reject_batch(engine: Engine, actor: Actor, batch_no: str, reason: str) -> BatchView:
    reason = (reason or "").strip()
    require(actor, "payment.approve")
    if not reason or len(reason) > MAX_REASON_LEN:
        raise LedgerRefusal([Problem("batch", "reason", reason[:40], f"give a reason (1–{MAX_REASON_LEN} characters)")])
    with unit_of_work(engine) as s:
        b = _batch_for_update(s, actor, batch_no)
        _decider_check(actor, b)
        if b.status not in ("draft", "disclosed"):
            raise LedgerRefusal([Problem("batch", "status", b.status, "this batch is already decided")])
        s.execute(update(ROW).where(ROW.c.batch_id == b.id, ROW.c.status == "pending").values(status="rejected"))
        s.execute(update(BATCH).where(BATCH.c.id == b.id).values(status="rejected", decided_by=actor.user_id,
                                                                 decided_at=utcnow(), reason=reason))
        audit.record(s, actor, "payment.reject", "payment_batch", batch_no, before={"status": b.status},
                     after={"status": "rejected", "reason": reason})
        return _batch_view(s, batch_no)


# ---------------------------------------------------------------------------------------------
# The bank's return and re-issue


def record_bank_returns(engine: Engine, actor: Actor, returns: Sequence[BankReturnIn]) -> dict:
    """Mark posted rows paid or failed; reverse each failed row's entry. All or nothing; a line already
    recorded with the same result is skipped (re-importing the return file is a no-op)."""
    require(actor, "payment.return")
    assert len(returns) <= MAX_ROWS_PER_CALL
    problems: list[Problem] = []
    seen: dict[str, int | None] = {}
    for r in returns:
        where = f"row {r.row}" if r.row is not None else f"return {r.ref}"
        if r.result not in RETURN_RESULTS:
            problems.append(Problem(where, "result", r.result, "paid or failed", row=r.row))
        if r.ref in seen:
            problems.append(Problem(where, "ref", r.ref, f"listed twice (row {seen[r.ref]})", row=r.row))
        seen[r.ref] = r.row
    with unit_of_work(engine) as s:
        rows = {r.ref: r for r in _in_chunks(s, lambda chunk: select(
            ROW.c.id, ROW.c.ref, ROW.c.status, ROW.c.entry_seq, ENTRY.c.effective_date.label("posted_on"),
            PROJECT.c.township, TOWNSHIP.c.code.label("h_code"), TOWNSHIP.c.name.label("h_name"))
            .select_from(ROW.join(BATCH, BATCH.c.id == ROW.c.batch_id)
                         .outerjoin(ENTRY, ENTRY.c.seq == ROW.c.entry_seq)
                         .join(PROJECT, PROJECT.c.id == BATCH.c.project_id)
                         .outerjoin(HOUSEHOLD, HOUSEHOLD.c.id == ROW.c.household_id)
                         .outerjoin(TOWNSHIP, TOWNSHIP.c.id == HOUSEHOLD.c.township_id))
            .where(ROW.c.ref.in_(chunk)), seen)}
        scope = _scope(actor)
        todo = []
        for r in returns:
            where = f"row {r.row}" if r.row is not None else f"return {r.ref}"
            row = rows.get(r.ref)
            if row is None or not _row_in_scope(scope, row):
                problems.append(Problem(where, "ref", r.ref, "no such payment", row=r.row))
            elif row.status == r.result:
                continue
            elif row.status != "posted":
                problems.append(Problem(where, "result", r.result, f"the payment is already {row.status}", row=r.row))
            elif r.returned_on < row.posted_on:
                problems.append(Problem(where, "returned_on", r.returned_on.isoformat(),
                                        f"before the payment was posted on {row.posted_on}", row=r.row))
            else:
                todo.append((r, row))
        if problems:
            raise LedgerRefusal(problems)
        failed = [(r, row) for r, row in todo if r.result == "failed"]
        drafts = [reversal_of(f"pay-returned:{r.ref}", r.returned_on,
                              f"退票 returned by the bank: {r.note or ''}".strip(), row.entry_seq,
                              journal.entry_postings(s, row.entry_seq), actor.user_id)
                  for r, row in failed]
        seqs: list[int] = []
        for i in range(0, len(drafts), journal.MAX_DRAFTS_PER_CALL):
            try:
                seqs.extend(p.seq for p in journal.post(s, drafts[i:i + journal.MAX_DRAFTS_PER_CALL]))
            except LedgerRefusal as exc:
                raise LedgerRefusal(exc.problems) from None
        reversal = {row.id: seq for (_, row), seq in zip(failed, seqs, strict=True)}
        for r, row in todo:
            s.execute(update(ROW).where(ROW.c.id == row.id).values(
                status=r.result, reversal_seq=reversal.get(row.id), bank_note=(r.note or None) and r.note[:200],
                returned_on=r.returned_on))
        summary = {"paid": sum(r.result == "paid" for r, _ in todo), "failed": len(failed),
                   "already_recorded": len(returns) - len(todo)}
        if todo:
            audit.record(s, actor, "payment.return", "payment_row", f"{len(todo)} rows", after=summary | {
                "failed_refs": [r.ref for r, _ in failed][:100]})
    return summary


def _row_in_scope(scope: str | None, row) -> bool:
    """A payment row a scoped user may act on: its project is its township's or county-wide, and its
    household (if any) is in its township."""
    if scope is None:
        return True
    if row.township not in (None, scope):
        return False
    return row.h_code is None or scope in (row.h_code, row.h_name)


def reissue(engine: Engine, actor: Actor, batch_no: str, refs: Sequence[str], paid_on: dt.date,
            memo: str = "") -> BatchView:
    """Pay failed rows again, once, in a new batch, to the account the registry holds now (the officer
    corrects the registry first: a failed row usually means a closed or mistyped card)."""
    require(actor, "payment.prepare")
    if not refs:
        raise LedgerRefusal([Problem("reissue", "refs", "", "name the failed payments to pay again")])
    with unit_of_work(engine) as s:
        _lock(s)
        rows = s.execute(select(ROW, BATCH.c.project_id, BATCH.c.purpose, PROJECT.c.township,
                                HOUSEHOLD.c.bank_account.label("registry_account"), HOUSEHOLD.c.household_no,
                                TOWNSHIP.c.code.label("h_code"), TOWNSHIP.c.name.label("h_name"))
                         .select_from(ROW.join(BATCH, BATCH.c.id == ROW.c.batch_id)
                                      .join(PROJECT, PROJECT.c.id == BATCH.c.project_id)
                                      .outerjoin(HOUSEHOLD, HOUSEHOLD.c.id == ROW.c.household_id)
                                      .outerjoin(TOWNSHIP, TOWNSHIP.c.id == HOUSEHOLD.c.township_id))
                         .where(ROW.c.ref.in_(sorted(set(refs))))).all()
        found = {r.ref: r for r in rows}
        scope = _scope(actor)
        problems = []
        for ref in refs:
            r = found.get(ref)
            if r is None or not _row_in_scope(scope, r):
                problems.append(Problem(f"payment {ref}", "ref", ref, "no such payment"))
            elif r.status != "failed":
                problems.append(Problem(f"payment {ref}", "ref", ref, f"the payment is {r.status}, not failed"))
        if len({(r.project_id, r.purpose) for r in rows}) > 1:
            problems.append(Problem("reissue", "refs", ",".join(refs)[:100], "a re-issue batch pays one project's rows "
                                                                             "of one purpose"))
        if problems:
            raise LedgerRefusal(problems)
        already = {r.reissue_of for r in s.execute(select(ROW.c.reissue_of).where(
            ROW.c.reissue_of.in_([r.id for r in rows])))}
        problems = [Problem(f"payment {r.ref}", "ref", r.ref, "this failed payment has already been re-issued")
                    for r in rows if r.id in already]
        if s.execute(select(BATCH.c.id).where(BATCH.c.batch_no == batch_no)).first() is not None:
            problems.append(Problem("reissue", "batch_no", batch_no, "this batch number is taken"))
        if batch_no in RESERVED_BATCH_NOS:
            problems.append(Problem("reissue", "batch_no", batch_no, RESERVED_BATCH_NO_MESSAGE))
        new_refs = {r.ref: f"{r.ref}-R" for r in rows}
        problems += [Problem(f"payment {ref}", "ref", ref, "the re-issue's ref would be too long")
                     for ref, new in new_refs.items() if len(new) > 64]
        if problems:
            raise LedgerRefusal(problems)
        total = sum(int(r.amount_fen) for r in rows)
        batch_id = s.execute(BATCH.insert().values(
            batch_no=batch_no, project_id=rows[0].project_id, purpose=rows[0].purpose, status="draft",
            declared_count=len(rows), declared_total_fen=total, memo=memo[:MAX_MEMO_LEN], is_history=False,
            is_reissue=True, prepared_by=actor.user_id, prepared_at=utcnow(), disclosure_days=0)
            .returning(BATCH.c.id)).scalar_one()
        s.execute(ROW.insert(), [dict(
            batch_id=batch_id, ref=new_refs[r.ref], row_no=None, household_id=r.household_id,
            payee_id_number=r.payee_id_number, payee_name=r.payee_name,
            bank_account=r.registry_account if r.household_id else r.bank_account, amount_fen=r.amount_fen,
            paid_on=paid_on, period=r.period, item=r.item, quantity=r.quantity, unit_price_fen=r.unit_price_fen,
            status="pending", reissue_of=r.id) for r in rows])
        audit.record(s, actor, "payment.reissue", "payment_batch", batch_no,
                     after={"reissues": sorted(new_refs), "total": format_yuan(total)})
        return _batch_view(s, batch_no)


# ---------------------------------------------------------------------------------------------
# Reading


@dataclass(frozen=True, slots=True)
class BatchView:
    batch_no: str
    project_code: str
    project_name: str
    township: str | None
    purpose: str
    status: str
    declared_count: int
    declared_total_fen: int
    row_count: int
    total_fen: int
    paid_count: int
    failed_count: int
    is_history: bool
    is_reissue: bool
    prepared_by: str | None
    prepared_at: dt.datetime
    disclosure_days: int
    disclosed_on: dt.date | None
    disclosure_until: dt.date | None
    decided_by: str | None
    decided_at: dt.datetime | None
    reason: str | None
    memo: str


def _batch_query():
    preparer = USER.alias("preparer")
    decider = USER.alias("decider")
    counts = (select(ROW.c.batch_id, func.count().label("n"), func.sum(ROW.c.amount_fen).label("total"),
                     func.sum(case((ROW.c.status == "paid", 1), else_=0)).label("paid"),
                     func.sum(case((ROW.c.status == "failed", 1), else_=0)).label("failed"))
              .group_by(ROW.c.batch_id).subquery())
    return select(BATCH, PROJECT.c.project_code, PROJECT.c.name.label("project_name"), PROJECT.c.township,
                  preparer.c.username.label("preparer"), decider.c.username.label("decider"),
                  counts.c.n, counts.c.total, counts.c.paid, counts.c.failed).select_from(
        BATCH.join(PROJECT, PROJECT.c.id == BATCH.c.project_id)
        .outerjoin(counts, counts.c.batch_id == BATCH.c.id)
        .outerjoin(preparer, preparer.c.id == BATCH.c.prepared_by)
        .outerjoin(decider, decider.c.id == BATCH.c.decided_by))


def _view(r) -> BatchView:
    return BatchView(r.batch_no, r.project_code, r.project_name, r.township, r.purpose, r.status,
                     int(r.declared_count), int(r.declared_total_fen), int(r.n or 0), int(r.total or 0),
                     int(r.paid or 0), int(r.failed or 0), bool(r.is_history), bool(r.is_reissue), r.preparer,
                     r.prepared_at, int(r.disclosure_days), r.disclosed_on, r.disclosure_until, r.decider,
                     r.decided_at, r.reason, r.memo)


def _batch_view(s: Session, batch_no: str) -> BatchView:
    return _view(s.execute(_batch_query().where(BATCH.c.batch_no == batch_no)).one())


@dataclass(frozen=True, slots=True)
class BatchFilter:
    status: str | None = None
    project: str | None = None
    purpose: str | None = None


def list_batches(engine: Engine, actor: Actor, f: BatchFilter = BatchFilter(), page: int = 1,
                 page_size: int = DEFAULT_PAGE_SIZE) -> Page:
    require(actor, "payment.read")
    page, page_size = clamp_page(page, page_size)
    stmt = _batch_query().where(_batch_visible(actor))
    if f.status:
        stmt = stmt.where(BATCH.c.status == f.status)
    if f.project:
        stmt = stmt.where(PROJECT.c.project_code == f.project)
    if f.purpose:
        stmt = stmt.where(BATCH.c.purpose == f.purpose)
    with read_only(engine) as s:
        total = s.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
        rows = s.execute(stmt.order_by(BATCH.c.id.desc()).limit(page_size).offset((page - 1) * page_size)).all()
    return Page([_view(r) for r in rows], int(total), page, page_size)


@dataclass(frozen=True, slots=True)
class RowView:
    ref: str
    row_no: int | None
    household_no: str | None
    village: str | None
    payee_id_number: str | None
    payee_name: str
    bank_account: str | None
    amount_fen: int
    paid_on: dt.date
    period: str | None
    item: str | None
    quantity: int | None
    unit_price_fen: int | None
    status: str
    entry_seq: int | None
    reversal_seq: int | None
    bank_note: str | None
    reissue_of: str | None


def _rows_query():
    original = ROW.alias("original")
    return select(ROW, HOUSEHOLD.c.household_no, VILLAGE.c.name.label("village"),
                  original.c.ref.label("reissue_of_ref")).select_from(
        ROW.outerjoin(HOUSEHOLD, HOUSEHOLD.c.id == ROW.c.household_id)
        .outerjoin(VILLAGE, VILLAGE.c.id == HOUSEHOLD.c.village_id)
        .outerjoin(original, original.c.id == ROW.c.reissue_of))


def _row_view(r) -> RowView:
    return RowView(r.ref, r.row_no, r.household_no, r.village, r.payee_id_number, r.payee_name, r.bank_account,
                   int(r.amount_fen), r.paid_on, r.period, r.item, r.quantity, r.unit_price_fen, r.status, r.entry_seq,
                   r.reversal_seq, r.bank_note, r.reissue_of_ref)


@dataclass(frozen=True, slots=True)
class BatchDetail:
    batch: BatchView
    rows: Page


def batch_detail(engine: Engine, actor: Actor, batch_no: str, page: int = 1,
                 page_size: int = DEFAULT_PAGE_SIZE) -> BatchDetail | None:
    require(actor, "payment.read")
    page, page_size = clamp_page(page, page_size)
    with read_only(engine) as s:
        r = s.execute(_batch_query().where(BATCH.c.batch_no == batch_no, _batch_visible(actor))).first()
        if r is None:
            return None
        rows = s.execute(_rows_query().where(ROW.c.batch_id == r.id).order_by(ROW.c.id)
                         .limit(page_size).offset((page - 1) * page_size)).all()
        view = _view(r)
    return BatchDetail(view, Page([_row_view(x) for x in rows], view.row_count, page, page_size))


@dataclass(frozen=True, slots=True)
class PublicRow:
    village: str | None
    payee_name: str
    id_masked: str
    account_masked: str
    amount_fen: int
    period: str | None
    item: str | None
    quantity: int | None


@dataclass(frozen=True, slots=True)
class PublicNotice:
    """公示: what the village notice board shows. Nothing here identifies more than a villager needs to
    recognise their own line: ID and account numbers masked, no household numbers or phones."""

    batch_no: str
    project_name: str
    township: str | None
    purpose: str
    disclosed_on: dt.date
    disclosure_until: dt.date
    row_count: int
    total_fen: int
    rows: tuple[PublicRow, ...]


MAX_PUBLIC_ROWS = 20_000  # a notice is printed; a township's roll is a few thousand lines


def public_notice(engine: Engine, batch_no: str) -> PublicNotice | None:
    """No sign-in: a disclosed (or since approved) batch's payees, masked. None for anything else."""
    with read_only(engine) as s:
        b = s.execute(select(BATCH.c.id, BATCH.c.batch_no, BATCH.c.purpose, BATCH.c.status, BATCH.c.disclosed_on,
                             BATCH.c.disclosure_until, PROJECT.c.name, PROJECT.c.township)
                      .select_from(BATCH.join(PROJECT, PROJECT.c.id == BATCH.c.project_id))
                      .where(BATCH.c.batch_no == batch_no)).first()
        if b is None or b.disclosed_on is None or b.status not in ("disclosed", "posted"):
            return None
        rows = s.execute(_rows_query().where(ROW.c.batch_id == b.id).order_by(VILLAGE.c.name, ROW.c.id)
                         .limit(MAX_PUBLIC_ROWS)).all()
        n, total = s.execute(select(func.count(), func.coalesce(func.sum(ROW.c.amount_fen), 0))
                             .where(ROW.c.batch_id == b.id)).one()
    return PublicNotice(b.batch_no, b.name, b.township, b.purpose, b.disclosed_on, b.disclosure_until, int(n),
                        int(total), tuple(PublicRow(r.village, r.payee_name, mask_id(r.payee_id_number or ""),
                                                    mask_account(r.bank_account) if r.bank_account else "",
                                                    int(r.amount_fen), r.period, r.item, r.quantity) for r in rows))


def public_notices(engine: Engine, today: dt.date, limit: int = 100) -> list[BatchView]:
    """The notices on the board today: batches in their disclosure period (a notice whose period is
    over stays readable by its own address until it is decided, but is no longer listed)."""
    with read_only(engine) as s:
        rows = s.execute(_batch_query().where(BATCH.c.status == "disclosed", BATCH.c.disclosed_on <= today,
                                              BATCH.c.disclosure_until > today)
                         .order_by(BATCH.c.disclosed_on.desc(), BATCH.c.id.desc()).limit(min(limit, 500))).all()
    return [_view(r) for r in rows]


# A notice stays listed this long after its period ended: as long as a paper notice may be recorded late
# (MAX_BACKDATE_DAYS), so one recorded after it came down from the village board is still published online.
RECENT_NOTICE_DAYS = MAX_BACKDATE_DAYS


def recent_public_notices(engine: Engine, today: dt.date, limit: int = 100) -> list[BatchView]:
    """Notices whose period ended in the last RECENT_NOTICE_DAYS days, awaiting approval or since
    approved, latest first. A backdated notice that had already run its days when it was recorded
    never hangs on the online board (public_notices); this list is where the public still sees it."""
    since = today - dt.timedelta(days=RECENT_NOTICE_DAYS)
    with read_only(engine) as s:
        rows = s.execute(_batch_query().where(BATCH.c.status.in_(("disclosed", "posted")),
                                              BATCH.c.disclosure_until <= today, BATCH.c.disclosure_until > since)
                         .order_by(BATCH.c.disclosure_until.desc(), BATCH.c.id.desc()).limit(min(limit, 500))).all()
    return [_view(r) for r in rows]


# ---------------------------------------------------------------------------------------------
# The household statement: everything a household received, each line with its fund sources


@dataclass(frozen=True, slots=True)
class StatementLine:
    paid_on: dt.date
    ref: str
    batch_no: str
    project_code: str
    project_name: str
    purpose: str
    period: str | None
    item: str | None
    status: str
    amount_fen: int  # what reached the household: 0 once a failed payment is reversed
    funds: tuple[tuple[str, str, int], ...]  # (fund code, fund name, fen), summing to amount_fen
    is_history: bool


@dataclass(frozen=True, slots=True)
class HouseholdStatement:
    household_no: str
    lines: tuple[StatementLine, ...]
    total_fen: int
    by_fund: tuple[tuple[str, str, int], ...]


MAX_STATEMENT_LINES = 5_000  # a household receives a few payments a month for years


def household_statement(engine: Engine, actor: Actor, household_no: str) -> HouseholdStatement | None:
    """Index look-ups only: the household's payment rows (by household), then their entries' postings."""
    require(actor, "registry.read")
    require(actor, "payment.read")
    with read_only(engine) as s:
        h = s.execute(select(HOUSEHOLD.c.id, HOUSEHOLD.c.township_id, TOWNSHIP.c.code, TOWNSHIP.c.name)
                      .select_from(HOUSEHOLD.join(TOWNSHIP, TOWNSHIP.c.id == HOUSEHOLD.c.township_id))
                      .where(HOUSEHOLD.c.household_no == household_no)).first()
        scope = _scope(actor)
        if h is None or (scope is not None and scope not in (h.code, h.name)):
            return None
        rows = s.execute(select(ROW.c.ref, ROW.c.paid_on, ROW.c.period, ROW.c.item, ROW.c.status, ROW.c.amount_fen,
                                ROW.c.entry_seq, BATCH.c.batch_no, BATCH.c.purpose, BATCH.c.is_history,
                                PROJECT.c.project_code, PROJECT.c.name)
                         .select_from(ROW.join(BATCH, BATCH.c.id == ROW.c.batch_id)
                                      .join(PROJECT, PROJECT.c.id == BATCH.c.project_id))
                         .where(ROW.c.household_id == h.id, ROW.c.entry_seq.is_not(None))
                         .order_by(ROW.c.paid_on, ROW.c.id).limit(MAX_STATEMENT_LINES)).all()
        seqs = [r.entry_seq for r in rows]
        parts: dict[int, list[tuple[str, str, int]]] = defaultdict(list)
        for p in _in_chunks(s, lambda chunk: select(POSTING.c.entry_seq, FUND.c.code, FUND.c.name, POSTING.c.amount_fen)
                            .select_from(POSTING.join(FUND, FUND.c.id == POSTING.c.fund_id))
                            .where(POSTING.c.entry_seq.in_(chunk), POSTING.c.amount_fen > 0,
                                   POSTING.c.party == household_no).order_by(POSTING.c.id), seqs):
            parts[int(p.entry_seq)].append((p.code, p.name, int(p.amount_fen)))
    lines = []
    by_fund: dict[tuple[str, str], int] = defaultdict(int)
    for r in rows:
        reached = r.status in ("posted", "paid")
        funds = tuple(parts.get(int(r.entry_seq), ())) if reached else ()
        assert not reached or sum(f[2] for f in funds) == int(r.amount_fen), "a payment's funds sum to its amount"
        for code, name, fen in funds:
            by_fund[(code, name)] += fen
        lines.append(StatementLine(r.paid_on, r.ref, r.batch_no, r.project_code, r.name, r.purpose, r.period, r.item,
                                   r.status, int(r.amount_fen) if reached else 0, funds, bool(r.is_history)))
    return HouseholdStatement(household_no, tuple(lines), sum(line.amount_fen for line in lines),
                              tuple((c, n, fen) for (c, n), fen in sorted(by_fund.items())))
