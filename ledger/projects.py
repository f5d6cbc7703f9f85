"""The project library (项目库) and allocation requests (资金安排申请): DESIGN.md §1, §4, §5.

Use cases follow ledger.services: the permission check first, then one unit of work (one
transaction) that validates, writes and audits in the same commit. Refusals are `LedgerRefusal`
(every problem found, nothing written); segregation of duties and township scope refuse with
`PermissionDenied`, whatever the caller's permissions say.

Projects. A project's money sits in `Assets:Project:<component of its code>` (flows.project_account).
Two codes that differ only in punctuation ('xm_1', 'xm/1') would share that account, so a new project
whose account is already another project's is refused (the unique `account_code` holds it in the
database too). An account that exists without a project (history posted before the library existed)
is adopted by the project that maps to it. The status moves forward only, one step at a time:

    planned -> approved -> implementing -> completed -> accepted (验收) -> closed

except that a planned or approved project may be withdrawn (closed) before it is carried out. Each move
is a project_status row (who, when, why); approving and accepting take an approver other than the
project's creator; closing takes a project that holds nothing in any fund and has no pending request.

Allocation requests. A finance officer prepares an allocation (pool -> project) or a reallocation
(project -> project) in one fund; an approver other than the preparer approves it, which posts the
entry through ledger.flows and ledger.journal in the same transaction as the decision and its audit
row (maker = preparer, checker = approver), or rejects it with a reason. Only an approved or
implementing project receives money; the journal's limits keep the pool and the giving project from
going below zero, and a refused posting leaves the request pending and nothing written. Preparing
is idempotent by key: the same key with the same details returns the first request, with other
details it is refused.

Township scope (DESIGN §1), decided here: a user scoped to a township reads that township's projects
and the county-wide ones (township NULL: the interest-subsidy or welfare-post programmes pay its
households too), but prepares, decides and moves only its own township's projects; county-wide projects
are changed by county-level users. Another township's project reads as "no such project". A scope is
compared with `project.township` as the same string (stripped): projects keep their township's registered
name whether created or imported (given by code or name; an unknown township is refused), users.py
keeps a user's township by name too (and resolves a code at sign-in), and a township renamed in the
registry carries its projects and users along (registry.upsert_townships).

Imports (ledger.imports.files). A projects sheet registers its rows in the library in one transaction
(`import_projects`): a township must be in the registry's township table (by name or code; stored by
name), a code already registered with the same details is left alone and with other details refused.
An allocations sheet (`import_allocations`) becomes pending requests prepared by the importer, keyed by
the row's details; as history (`--history --approved-by USER`) the same rows are recorded as approved
on their own dates, posted through flows and the journal with the importer as maker and USER as checker,
and marked with ledger.history. The direct posting paths (services.allocate / reallocate) are the
system user's only.

Figures. For one project and fund, postings to the project account are either funding (allocations,
reallocations in and out, fund re-designations, opening balances) or spending (everything else: payments,
advances, interest subsidies, recoveries back into the project). A reversal counts as the kind of the
entry it reverses. So allocated - spent = balance, in every fund. The computations are pure functions
(`split_flows`, `spending_progress`, `idle_days`); `project_detail` gathers their inputs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import Engine, and_, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from ledger import audit, bulk, flows, journal
from ledger import history as history_marks
from ledger.chart import ensure_accounts
from ledger.db import read_only, unit_of_work
from ledger.entries import MAX_KEY_LEN, MAX_MEMO_LEN, Problem, account_code_problem
from ledger.journal import ACCOUNT, BALANCE, ENTRY, FUND, POSTING, LedgerRefusal
from ledger.models import (
    PROJECT_INDUSTRIES,
    PROJECT_STATUSES,
    AllocationRequest,
    AppUser,
    Project,
    ProjectStatus,
    Township,
    utcnow,
)
from ledger.money import MAX_ABS_FEN, format_yuan
from ledger.permissions import Actor, PermissionDenied, allowed, require
from ledger.queries import DEFAULT_PAGE_SIZE, Page, clamp_page

PROJECT = Project.__table__
PSTATUS = ProjectStatus.__table__
REQUEST = AllocationRequest.__table__
USER = AppUser.__table__

INDUSTRY_NAMES_ZH = {
    "rose": "玫瑰花", "grape": "葡萄", "vegetable": "设施蔬菜", "marigold": "万寿菊", "fungus": "食用菌",
    "sheep": "多胎肉羊", "goose": "鹅", "pigeon": "肉鸽", "rabbit": "兔", "hotan_sheep": "和田羊",
    "welfare_post": "公益岗位", "interest_subsidy": "贴息", "infrastructure": "基础设施", "other": "其他",
}
STATUS_NAMES_ZH = {"planned": "储备", "approved": "已批复", "implementing": "实施中", "completed": "已完工",
                   "accepted": "已验收", "closed": "已关闭"}
assert set(INDUSTRY_NAMES_ZH) == set(PROJECT_INDUSTRIES) and set(STATUS_NAMES_ZH) == set(PROJECT_STATUSES)

# ASCII so that the account component stays readable; '_', '.', '/' become '-' in the account.
PROJECT_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,63}\Z")
# Words the project pages use as paths (/projects/export): a project so coded could not be opened.
RESERVED_PROJECT_CODES = frozenset({"export"})
MAX_NAME_LEN = 200
MAX_TOWNSHIP_LEN = 64
MAX_TARGET_LEN = 4000
MAX_REASON_LEN = 500

RECEIVING = ("approved", "implementing")  # the statuses in which a project receives money
NEXT_STATUS = {"planned": "approved", "approved": "implementing", "implementing": "completed",
               "completed": "accepted", "accepted": "closed"}
WITHDRAWABLE = ("planned", "approved")  # may be closed without being carried out
TRANSITION_PERMISSION = {"approved": "project.approve", "accepted": "project.approve",
                         "implementing": "project.advance", "completed": "project.advance",
                         "closed": "project.advance"}
FOUR_EYES = ("approved", "accepted")  # not by the project's creator

# Entry kinds that fund a project (or take funding back); every other kind moving a project
# account is spending. Arrivals (for days idle) are the debits of FUNDING_IN kinds.
FUNDING_KINDS = frozenset({"allocation", "reallocation", "fund_redesignation", "opening_balance"})
FUNDING_IN_KINDS = ("allocation", "reallocation", "opening_balance")


def _refuse(where: str, field_: str, value: object, message: str) -> LedgerRefusal:
    return LedgerRefusal([Problem(where, field_, "" if value is None else str(value), message)])


# ---------------------------------------------------------------------------------------------
# Pure computations (values in, values out; no database)


def split_flows(flows_by_kind: Iterable[tuple[str, int]]) -> tuple[int, int]:
    """(allocated, spent) from (effective entry kind, net amount to the project account) pairs.

    Funding kinds add to allocated (a reallocation out, or a reversed allocation, takes from it);
    every other kind is spending, signed so that money paid out is positive (a recovery paid back
    into the project, or a reversed payment, lowers it). allocated - spent is the balance.
    """
    allocated = spent = 0
    for kind, amount in flows_by_kind:
        if kind in FUNDING_KINDS:
            allocated += amount
        else:
            spent -= amount
    return allocated, spent


def spending_progress(spent_fen: int, allocated_fen: int) -> Decimal | None:
    """Spent / allocated as a percentage, ROUND_HALF_UP to 0.1 % (Decimal('33.3')).

    Exact: integer arithmetic, no division in floating or limited precision. None when nothing is
    allocated (no meaningful progress). A half tenth rounds away from zero.
    """
    if allocated_fen <= 0:
        return None
    tenths, rest = divmod(abs(spent_fen) * 1000, allocated_fen)
    if 2 * rest >= allocated_fen:
        tenths += 1
    return Decimal(tenths if spent_fen >= 0 else -tenths).scaleb(-1)


def idle_days(as_of: dt.date, balance_fen: int, first_allocation_on: dt.date | None,
              last_payment_on: dt.date | None) -> int | None:
    """Days the project's money has sat unspent as of `as_of` (资金闲置天数).

    Only while the balance is positive (None otherwise): days since the last payment, or since the
    first allocation if nothing was ever paid out. Never negative.
    """
    if balance_fen <= 0 or first_allocation_on is None:
        return None
    since = last_payment_on if last_payment_on is not None else first_allocation_on
    return max(0, (as_of - since).days)


@dataclass(frozen=True, slots=True)
class ProjectIn:
    code: str
    name: str
    industry: str
    start_on: dt.date
    budget_fen: int
    township: str | None = None  # None: county-wide
    implementer: str | None = None
    standard_fen: int | None = None  # per household
    end_on: dt.date | None = None
    performance_target: str = ""
    row: int | None = None  # the officer's sheet row, when the project comes from an import


def _fen(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def project_problems(p: ProjectIn) -> list[Problem]:
    """Everything wrong with a new project that can be known without the database."""
    where = f"project {p.code}"
    out: list[Problem] = []

    def bad(field_: str, value: object, message: str) -> None:
        out.append(Problem(where, field_, "" if value is None else str(value), message))

    if not isinstance(p.code, str) or not PROJECT_CODE_RE.match(p.code):
        bad("code", p.code, "project code: 1–64 of A–Z, a–z, 0–9, '_', '.', '/' or '-', starting with a letter "
                            "or digit")
    elif p.code.lower() in RESERVED_PROJECT_CODES:
        bad("code", p.code, "this word is reserved for the project pages; choose another code")
    else:
        msg = account_code_problem(flows.project_account(p.code))
        if msg:
            bad("code", p.code, msg)
    if not isinstance(p.name, str) or not p.name.strip() or len(p.name.strip()) > MAX_NAME_LEN:
        bad("name", p.name, f"name: 1–{MAX_NAME_LEN} characters")
    if p.industry not in PROJECT_INDUSTRIES:
        bad("industry", p.industry, "industry must be one of " + ", ".join(PROJECT_INDUSTRIES))
    if p.township is not None and (not p.township.strip() or len(p.township.strip()) > MAX_TOWNSHIP_LEN):
        bad("township", p.township, f"township: 1–{MAX_TOWNSHIP_LEN} characters, or none for county-wide")
    if p.implementer is not None and len(p.implementer.strip()) > MAX_NAME_LEN:
        bad("implementer", p.implementer, f"implementer: at most {MAX_NAME_LEN} characters")
    if not _fen(p.budget_fen) or not 0 <= p.budget_fen <= MAX_ABS_FEN:
        bad("budget", p.budget_fen, "budget must be a whole number of fen, zero or more")
    if p.standard_fen is not None and (not _fen(p.standard_fen) or not 0 < p.standard_fen <= MAX_ABS_FEN):
        bad("standard", p.standard_fen, "the per-household standard must be more than zero")
    if not isinstance(p.start_on, dt.date):
        bad("start_on", p.start_on, "start date is missing")
    elif p.end_on is not None and (not isinstance(p.end_on, dt.date) or p.end_on < p.start_on):
        bad("end_on", p.end_on, "the end date cannot be before the start date")
    if not isinstance(p.performance_target, str) or len(p.performance_target) > MAX_TARGET_LEN:
        bad("performance_target", "", f"performance target: at most {MAX_TARGET_LEN} characters")
    return out


# ---------------------------------------------------------------------------------------------
# Township scope


def _scope(actor: Actor) -> str | None:
    """None: county-wide; otherwise the actor's township."""
    return (actor.township or "").strip() or None


def _readable(actor: Actor, township: str | None) -> bool:
    scope = _scope(actor)
    return scope is None or township is None or township == scope


def _changeable(actor: Actor, township: str | None) -> bool:
    scope = _scope(actor)
    return scope is None or township == scope


def _readable_where(actor: Actor, column):
    scope = _scope(actor)
    return True if scope is None else or_(column.is_(None), column == scope)


def _locked(session: Session, stmt):
    return stmt.with_for_update() if session.get_bind().dialect.name == "postgresql" else stmt


# ---------------------------------------------------------------------------------------------
# Views


@dataclass(frozen=True, slots=True)
class ProjectView:
    id: int
    code: str
    name: str
    industry: str
    township: str | None
    implementer: str | None
    budget_fen: int
    standard_fen: int | None
    start_on: dt.date
    end_on: dt.date | None
    status: str
    performance_target: str
    account_code: str
    created_by: str | None  # user name
    created_at: dt.datetime
    balance_fen: int  # current, all funds (stored balances)


def _project_query():
    balance = (
        select(func.coalesce(func.sum(BALANCE.c.balance_fen), 0))
        .select_from(BALANCE.join(ACCOUNT, ACCOUNT.c.id == BALANCE.c.account_id))
        .where(ACCOUNT.c.code == PROJECT.c.account_code)
        .scalar_subquery()
    )
    return select(PROJECT, USER.c.username.label("creator"), balance.label("balance")).select_from(
        PROJECT.outerjoin(USER, USER.c.id == PROJECT.c.created_by))


def _project_view(r) -> ProjectView:
    return ProjectView(int(r.id), r.project_code, r.name, r.industry, r.township, r.implementer, int(r.budget_fen),
                       None if r.standard_fen is None else int(r.standard_fen), r.start_on, r.end_on, r.status,
                       r.performance_target, r.account_code, r.creator, r.created_at, int(r.balance))


def _load_project(s: Session, code: str) -> ProjectView | None:
    r = s.execute(_project_query().where(PROJECT.c.project_code == code)).first()
    return None if r is None else _project_view(r)


@dataclass(frozen=True, slots=True)
class StatusChange:
    from_status: str | None
    to_status: str
    changed_by: str | None
    changed_at: dt.datetime
    reason: str


@dataclass(frozen=True, slots=True)
class RequestView:
    id: int
    key: str
    kind: str  # allocation | reallocation
    project: str  # the receiving project's code
    from_project: str | None  # reallocation: the giving project's code
    fund: str
    amount_fen: int
    allocate_on: dt.date
    memo: str
    status: str  # pending | approved | rejected
    prepared_by: str | None
    prepared_at: dt.datetime
    decided_by: str | None
    decided_at: dt.datetime | None
    reason: str | None
    entry_seq: int | None
    created: bool = False  # prepare: False when the key had been used before with the same details


_TO, _FROM = PROJECT.alias("to_p"), PROJECT.alias("from_p")
_PREPARER, _DECIDER = USER.alias("preparer"), USER.alias("decider")


def _request_query():
    return select(
        REQUEST, _TO.c.project_code.label("to_code"), _FROM.c.project_code.label("from_code"),
        FUND.c.code.label("fund_code"), _PREPARER.c.username.label("preparer"), _DECIDER.c.username.label("decider"),
    ).select_from(
        REQUEST.join(_TO, _TO.c.id == REQUEST.c.project_id)
        .outerjoin(_FROM, _FROM.c.id == REQUEST.c.from_project_id)
        .join(FUND, FUND.c.id == REQUEST.c.fund_id)
        .outerjoin(_PREPARER, _PREPARER.c.id == REQUEST.c.prepared_by)
        .outerjoin(_DECIDER, _DECIDER.c.id == REQUEST.c.decided_by)
    )


def _request_view(r, created: bool = False) -> RequestView:
    return RequestView(int(r.id), r.key, r.kind, r.to_code, r.from_code, r.fund_code, int(r.amount_fen),
                       r.allocate_on, r.memo, r.status, r.preparer, r.prepared_at, r.decider, r.decided_at, r.reason,
                       r.entry_seq, created)


def _load_request(s: Session, request_id: int) -> RequestView:
    return _request_view(s.execute(_request_query().where(REQUEST.c.id == request_id)).one())


def _project_audit(p: ProjectIn | ProjectView, township: str | None, account_code: str) -> dict:
    return {"code": p.code, "name": p.name, "industry": p.industry, "township": township,
            "implementer": p.implementer, "budget": format_yuan(p.budget_fen),
            "standard": None if p.standard_fen is None else format_yuan(p.standard_fen),
            "start_on": p.start_on, "end_on": p.end_on, "performance_target": p.performance_target,
            "account": account_code}


# ---------------------------------------------------------------------------------------------
# Projects: creation and lifecycle


def create_project(engine: Engine, actor: Actor, p: ProjectIn) -> ProjectView:
    """Register a project in the library (status planned, with its first history row)."""
    require(actor, "project.create")
    problems = project_problems(p)
    if problems:
        raise LedgerRefusal(problems)
    where = f"project {p.code}"
    typed = p.township.strip() if p.township is not None else None
    scope = _scope(actor)
    account_code = flows.project_account(p.code)
    with unit_of_work(engine) as s:
        # By code or name, stored by name, as the projects import does: one township, one spelling.
        towns = _township_names(s)
        township = towns.get(typed) if typed is not None else None
        if typed is not None and township is None:
            raise _refuse(where, "township", typed, "no such township in the registry (by name or code); "
                                                    "register it first (huimin townships add CODE NAME)")
        if scope is not None and township != towns.get(scope, scope):
            raise PermissionDenied(actor, f"project.create outside its township ({scope})")
        if s.execute(select(PROJECT.c.id).where(PROJECT.c.project_code == p.code)).first() is not None:
            raise _refuse(where, "code", p.code, "project code already registered")
        other = s.execute(select(PROJECT.c.project_code).where(PROJECT.c.account_code == account_code)).scalar()
        if other is not None:
            raise _refuse(where, "code", p.code, f"its account {account_code} is already the account of project "
                                                 f"{other}; choose a code that differs in more than punctuation")
        now = utcnow()
        values = dict(project_code=p.code, name=p.name.strip(), industry=p.industry, township=township,
                      implementer=(p.implementer or "").strip() or None, budget_fen=p.budget_fen,
                      standard_fen=p.standard_fen, start_on=p.start_on, end_on=p.end_on, status="planned",
                      performance_target=p.performance_target, account_code=account_code,
                      created_by=actor.user_id, created_at=now)
        if s.get_bind().dialect.name == "postgresql":
            # Another officer may be registering the same code (or a colliding one) right now.
            new_id = s.execute(pg_insert(PROJECT).values(**values).on_conflict_do_nothing()
                               .returning(PROJECT.c.id)).scalar()
            if new_id is None:
                raise _refuse(where, "code", p.code, "project code (or its account) registered a moment ago")
        else:
            new_id = s.execute(PROJECT.insert().values(**values).returning(PROJECT.c.id)).scalar_one()
        s.execute(PSTATUS.insert().values(project_id=new_id, from_status=None, to_status="planned",
                                          changed_by=actor.user_id, changed_at=now, reason="registered 入库"))
        audit.record(s, actor, "project.create", "project", p.code, after=_project_audit(p, township, account_code))
        view = _load_project(s, p.code)
        assert view is not None
        return view


def change_project_status(engine: Engine, actor: Actor, code: str, to_status: str, reason: str) -> ProjectView:
    """Move a project one step forward (or withdraw a planned/approved one: closed), with a reason."""
    where = f"project {code}"
    if to_status not in TRANSITION_PERMISSION:
        raise _refuse(where, "status", to_status, "a project moves to one of " + ", ".join(TRANSITION_PERMISSION))
    require(actor, TRANSITION_PERMISSION[to_status])
    reason = (reason or "").strip()
    if not reason or len(reason) > MAX_REASON_LEN:
        raise _refuse(where, "reason", reason[:40], f"a status change needs a reason (1–{MAX_REASON_LEN} characters)")
    with unit_of_work(engine) as s:
        row = s.execute(_locked(s, select(PROJECT).where(PROJECT.c.project_code == code))).first()
        if row is None or not _readable(actor, row.township):
            raise _refuse(where, "code", code, "no such project")
        if not _changeable(actor, row.township):
            raise PermissionDenied(actor, f"{TRANSITION_PERMISSION[to_status]} on a county-wide project")
        current = row.status
        if to_status == current:
            raise _refuse(where, "status", to_status, f"the project is already {current}")
        step = NEXT_STATUS.get(current)
        if to_status != step and not (to_status == "closed" and current in WITHDRAWABLE):
            if step is None:
                msg = "a closed project stays closed"
            else:
                msg = f"a {current} project moves on to {step}" + (" (or is withdrawn: closed)"
                                                                   if current in WITHDRAWABLE else "")
            raise _refuse(where, "status", to_status, msg)
        if to_status in FOUR_EYES and actor.user_id == row.created_by:
            raise PermissionDenied(actor, f"mark {to_status} a project it created")
        if to_status == "closed":
            held = s.execute(
                select(FUND.c.code, BALANCE.c.balance_fen)
                .select_from(BALANCE.join(ACCOUNT, ACCOUNT.c.id == BALANCE.c.account_id)
                             .join(FUND, FUND.c.id == BALANCE.c.fund_id))
                .where(ACCOUNT.c.code == row.account_code, BALANCE.c.balance_fen != 0)
                .order_by(FUND.c.code)).all()
            if held:
                raise _refuse(where, "status", to_status, "the project still holds " + ", ".join(
                    f"{format_yuan(int(b))} in fund {f}" for f, b in held) + "; reallocate it before closing")
            pending = s.execute(select(func.count()).select_from(REQUEST).where(
                REQUEST.c.status == "pending",
                or_(REQUEST.c.project_id == row.id, REQUEST.c.from_project_id == row.id))).scalar_one()
            if pending:
                raise _refuse(where, "status", to_status,
                              f"{pending} allocation request(s) naming this project are pending; decide them first")
        now = utcnow()
        s.execute(PSTATUS.insert().values(project_id=row.id, from_status=current, to_status=to_status,
                                          changed_by=actor.user_id, changed_at=now, reason=reason))
        s.execute(update(PROJECT).where(PROJECT.c.id == row.id).values(status=to_status))
        audit.record(s, actor, "project.status", "project", code, before={"status": current},
                     after={"status": to_status, "reason": reason})
        view = _load_project(s, code)
        assert view is not None
        return view


def approve_project(engine: Engine, actor: Actor, code: str, reason: str) -> ProjectView:
    """planned -> approved (批复), by an approver who did not create the project."""
    return change_project_status(engine, actor, code, "approved", reason)


# ---------------------------------------------------------------------------------------------
# Allocation requests


def _request_problems(key: str, amount_fen: int, on: dt.date, memo: str) -> list[Problem]:
    where = f"request {key}"
    out = []
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY_LEN:
        out.append(Problem(where, "key", str(key)[:40], f"key must be 1–{MAX_KEY_LEN} characters"))
    if not _fen(amount_fen) or not 0 < amount_fen <= MAX_ABS_FEN:
        out.append(Problem(where, "amount", str(amount_fen), "amount must be a whole number of fen above zero"))
    if not isinstance(on, dt.date) or isinstance(on, dt.datetime):
        out.append(Problem(where, "date", str(on), "the allocation date is missing"))
    if not isinstance(memo, str) or len(memo) > MAX_MEMO_LEN:
        out.append(Problem(where, "memo", str(memo)[:40], f"memo is longer than {MAX_MEMO_LEN} characters"))
    return out


def prepare_allocation(engine: Engine, actor: Actor, key: str, project_code: str, fund: str, amount_fen: int,
                       on: dt.date, memo: str = "") -> RequestView:
    """资金安排申请: money from the pool to an approved or implementing project, awaiting approval."""
    require(actor, "fund.allocate")
    return _prepare(engine, actor, "allocation", key, project_code, None, fund, amount_fen, on, memo)


def prepare_reallocation(engine: Engine, actor: Actor, key: str, from_project: str, to_project: str, fund: str,
                         amount_fen: int, on: dt.date, memo: str = "") -> RequestView:
    """资金调整申请: money from one project to another, in the same fund, awaiting approval."""
    require(actor, "fund.reallocate")
    return _prepare(engine, actor, "reallocation", key, to_project, from_project, fund, amount_fen, on, memo)


def _prepare(engine: Engine, actor: Actor, kind: str, key: str, to_code: str, from_code: str | None, fund: str,
             amount_fen: int, on: dt.date, memo: str) -> RequestView:
    problems = _request_problems(key, amount_fen, on, memo)
    where = f"request {key}"
    if from_code is not None and from_code == to_code:
        problems.append(Problem(where, "to_project", to_code, "a reallocation needs two different projects"))
    if problems:
        raise LedgerRefusal(problems)
    with unit_of_work(engine) as s:
        projects = {r.project_code: r for r in s.execute(
            select(PROJECT).where(PROJECT.c.project_code.in_([c for c in (to_code, from_code) if c is not None])))}
        for field_, code in (("project", to_code), ("from_project", from_code)):
            if code is None:
                continue
            r = projects.get(code)
            if r is None or not _readable(actor, r.township):
                raise _refuse(where, field_, code, "no such project")
            if not _changeable(actor, r.township):
                perm = "fund.allocate" if kind == "allocation" else "fund.reallocate"
                raise PermissionDenied(actor, f"{perm} for a county-wide project")
        to_p = projects[to_code]
        from_id = projects[from_code].id if from_code is not None else None
        fund_id = s.execute(select(FUND.c.id).where(FUND.c.code == fund)).scalar()
        if fund_id is None:
            raise _refuse(where, "fund", fund, "unknown fund")
        values = dict(key=key, kind=kind, project_id=to_p.id, from_project_id=from_id, fund_id=fund_id,
                      amount_fen=amount_fen, allocate_on=on, memo=memo, status="pending", prepared_by=actor.user_id)
        prior = _same_key(s, values)
        if prior is not None:
            return prior
        if to_p.status not in RECEIVING:
            raise _refuse(where, "project", to_code,
                          f"the project is {to_p.status}: only an approved or implementing project receives money")
        values["prepared_at"] = utcnow()
        if s.get_bind().dialect.name == "postgresql":
            # Two retries of one request at once: the second waits for the first, then replays it.
            new_id = s.execute(pg_insert(REQUEST).values(**values).on_conflict_do_nothing(index_elements=["key"])
                               .returning(REQUEST.c.id)).scalar()
            if new_id is None:
                prior = _same_key(s, values)
                assert prior is not None
                return prior
        else:
            new_id = s.execute(REQUEST.insert().values(**values).returning(REQUEST.c.id)).scalar_one()
        view = _load_request(s, int(new_id))
        audit.record(s, actor, f"{kind}.prepare", "allocation_request", str(new_id), after={
            "key": key, "kind": kind, "project": to_code, "from_project": from_code, "fund": fund,
            "amount": format_yuan(amount_fen), "date": on, "memo": memo})
        return dataclasses.replace(view, created=True)


_COMPARED = ("kind", "project_id", "from_project_id", "fund_id", "amount_fen", "allocate_on", "memo", "prepared_by")


def _same_key(s: Session, values: dict) -> RequestView | None:
    """The request already prepared with this key, if its details are the same; refused if not."""
    r = s.execute(select(REQUEST).where(REQUEST.c.key == values["key"])).first()
    if r is None:
        return None
    differs = [c for c in _COMPARED if getattr(r, c) != values[c]]
    if differs:
        raise _refuse(f"request {values['key']}", "key", values["key"],
                      f"key already used by allocation request {r.id} with different details ({', '.join(differs)})")
    return _load_request(s, int(r.id))


def _decidable(s: Session, actor: Actor, request_id: int) -> tuple:
    """The request row, locked, with its projects; refuses what the actor may not see or decide."""
    where = f"allocation request {request_id}"
    r = s.execute(_locked(s, select(REQUEST).where(REQUEST.c.id == request_id))).first()
    if r is None:
        raise _refuse(where, "id", request_id, "no such allocation request")
    ids = sorted({r.project_id} | ({r.from_project_id} if r.from_project_id is not None else set()))
    # Locked in id order: a concurrent status change (closing) of either project waits for this decision.
    projects = {p.id: p for p in s.execute(_locked(s, select(PROJECT).where(PROJECT.c.id.in_(ids))
                                                   .order_by(PROJECT.c.id)))}
    if not all(_readable(actor, p.township) for p in projects.values()):
        raise _refuse(where, "id", request_id, "no such allocation request")
    if not all(_changeable(actor, p.township) for p in projects.values()):
        raise PermissionDenied(actor, "fund.approve for a county-wide project")
    return r, projects


def approve_request(engine: Engine, actor: Actor, request_id: int) -> RequestView:
    """Approve a pending request and post its entry, in one transaction; maker = preparer, checker = actor.

    Approving again (the same approver retrying) returns the request as it is.
    """
    require(actor, "fund.approve")
    where = f"allocation request {request_id}"
    with unit_of_work(engine) as s:
        r, projects = _decidable(s, actor, request_id)
        if r.status == "approved" and r.decided_by == actor.user_id:
            return _load_request(s, request_id)
        if r.status != "pending":
            raise _refuse(where, "status", r.status, f"the request is already {r.status}")
        if r.prepared_by == actor.user_id:
            raise PermissionDenied(actor, "approve an allocation request it prepared")
        to_p = projects[r.project_id]
        if to_p.status not in RECEIVING:
            raise _refuse(where, "project", to_p.project_code,
                          f"the project is {to_p.status}: only an approved or implementing project receives money")
        fund = s.execute(select(FUND.c.code).where(FUND.c.id == r.fund_id)).scalar_one()
        entry_key = f"allocation-request-{r.id}"
        if r.kind == "allocation":
            draft = flows.allocation(entry_key, to_p.project_code, fund, int(r.amount_fen), r.allocate_on, r.memo,
                                     maker_id=r.prepared_by, checker_id=actor.user_id)
        else:
            draft = flows.reallocation(entry_key, projects[r.from_project_id].project_code, to_p.project_code, fund,
                                       int(r.amount_fen), r.allocate_on, r.memo, maker_id=r.prepared_by,
                                       checker_id=actor.user_id)
        ensure_accounts(s, {p.account: draft.effective_date for p in draft.postings})
        [posted] = journal.post(s, [draft], labels=[where])
        s.execute(update(REQUEST).where(REQUEST.c.id == r.id).values(
            status="approved", decided_by=actor.user_id, decided_at=utcnow(), entry_seq=posted.seq))
        audit.record(s, actor, f"{r.kind}.approve", "allocation_request", str(r.id), before={"status": "pending"},
                     after={"status": "approved", "entry": posted.seq, "key": draft.key, "maker_id": r.prepared_by,
                            "checker_id": actor.user_id,
                            "postings": [[p.account, p.fund, format_yuan(p.amount_fen)] for p in draft.postings]})
        return _load_request(s, request_id)


def reject_request(engine: Engine, actor: Actor, request_id: int, reason: str) -> RequestView:
    """Reject a pending request with a reason; nothing is posted. Not by its preparer."""
    require(actor, "fund.approve")
    where = f"allocation request {request_id}"
    reason = (reason or "").strip()
    if not reason or len(reason) > MAX_REASON_LEN:
        raise _refuse(where, "reason", reason[:40], f"a rejection needs a reason (1–{MAX_REASON_LEN} characters)")
    with unit_of_work(engine) as s:
        r, _ = _decidable(s, actor, request_id)
        if r.status == "rejected" and r.decided_by == actor.user_id and r.reason == reason:
            return _load_request(s, request_id)
        if r.status != "pending":
            raise _refuse(where, "status", r.status, f"the request is already {r.status}")
        if r.prepared_by == actor.user_id:
            raise PermissionDenied(actor, "reject an allocation request it prepared")
        s.execute(update(REQUEST).where(REQUEST.c.id == r.id).values(
            status="rejected", decided_by=actor.user_id, decided_at=utcnow(), reason=reason))
        audit.record(s, actor, f"{r.kind}.reject", "allocation_request", str(r.id), before={"status": "pending"},
                     after={"status": "rejected", "reason": reason})
        return _load_request(s, request_id)


# ---------------------------------------------------------------------------------------------
# Reading


@dataclass(frozen=True, slots=True)
class ProjectFilter:
    industry: str | None = None
    township: str | None = None
    status: str | None = None
    q: str | None = None  # code or name contains


def _project_where(actor: Actor, f: ProjectFilter):
    conds = [_readable_where(actor, PROJECT.c.township)]
    if f.industry:
        conds.append(PROJECT.c.industry == f.industry)
    if f.township:
        # Stored by name; a filter may give the code (AQ for 阿羌乡), as the registry's pages do.
        by_code = select(Township.__table__.c.name).where(Township.__table__.c.code == f.township.strip())
        conds.append(or_(PROJECT.c.township == f.township.strip(), PROJECT.c.township.in_(by_code)))
    if f.status:
        conds.append(PROJECT.c.status == f.status)
    if f.q and f.q.strip():
        conds.append(or_(PROJECT.c.project_code.contains(f.q.strip(), autoescape=True),
                         PROJECT.c.name.contains(f.q.strip(), autoescape=True)))
    return and_(True, *conds)


def list_projects(engine: Engine, actor: Actor, f: ProjectFilter = ProjectFilter(), page: int = 1,
                  page_size: int = DEFAULT_PAGE_SIZE) -> Page:
    """The project library, by code; paged. A scoped user sees its township's and county-wide projects."""
    require(actor, "project.read")
    page, page_size = clamp_page(page, page_size)
    where = _project_where(actor, f)
    with read_only(engine) as s:
        total = s.execute(select(func.count()).select_from(PROJECT).where(where)).scalar_one()
        rows = s.execute(_project_query().where(where).order_by(PROJECT.c.project_code)
                         .limit(page_size).offset((page - 1) * page_size))
        return Page([_project_view(r) for r in rows], int(total), page, page_size)


@dataclass(frozen=True, slots=True)
class FundFigures:
    fund: str
    allocated_fen: int
    spent_fen: int
    balance_fen: int


@dataclass(frozen=True, slots=True)
class ProjectDetail:
    project: ProjectView
    as_of: dt.date
    by_fund: list[FundFigures]
    allocated_fen: int
    spent_fen: int
    balance_fen: int  # as of `as_of` (the stored balances when no date was asked)
    progress_pct: Decimal | None  # spent / allocated, to 0.1 %
    first_allocation_on: dt.date | None
    last_payment_on: dt.date | None
    idle_days: int | None
    history: list[StatusChange] = field(default_factory=list)
    requests: list[RequestView] = field(default_factory=list)  # the latest, newest first


DETAIL_REQUESTS = 50


def project_detail(engine: Engine, actor: Actor, code: str, as_of: dt.date | None = None) -> ProjectDetail | None:
    """One project with its money by fund, progress and idle days, its history and latest requests.

    Without `as_of`: the stored balances, and idle days as of today. With it: everything as of that
    date (postings dated on or before it).
    """
    require(actor, "project.read")
    with read_only(engine) as s:
        project = _load_project(s, code)
        if project is None or not _readable(actor, project.township):
            return None
        day = as_of or dt.date.today()
        account_id = s.execute(select(ACCOUNT.c.id).where(ACCOUNT.c.code == project.account_code)).scalar()
        by_fund: list[FundFigures] = []
        first_on = last_on = None
        if account_id is not None:
            by_fund, first_on, last_on = _figures(s, int(account_id), as_of)
        allocated = sum(f.allocated_fen for f in by_fund)
        spent = sum(f.spent_fen for f in by_fund)
        balance = sum(f.balance_fen for f in by_fund)
        history = [StatusChange(h.from_status, h.to_status, h.username, h.changed_at, h.reason) for h in s.execute(
            select(PSTATUS, USER.c.username).select_from(PSTATUS.outerjoin(USER, USER.c.id == PSTATUS.c.changed_by))
            .where(PSTATUS.c.project_id == project.id).order_by(PSTATUS.c.id))]
        requests = [_request_view(r) for r in s.execute(
            _request_query().where(or_(REQUEST.c.project_id == project.id, REQUEST.c.from_project_id == project.id))
            .order_by(REQUEST.c.id.desc()).limit(DETAIL_REQUESTS))]
        return ProjectDetail(project, day, by_fund, allocated, spent, balance, spending_progress(spent, allocated),
                             first_on, last_on, idle_days(day, balance, first_on, last_on), history, requests)


def _figures(s: Session, account_id: int, as_of: dt.date | None) -> tuple[list[FundFigures], dt.date | None,
                                                                           dt.date | None]:
    """Per fund (allocated, spent, balance), the first arrival and the last payment of one project account.

    Index ranges on posting (account, fund, date); a reversal counts as the kind of the entry it reverses.
    """
    orig = ENTRY.alias("orig")
    kind = func.coalesce(orig.c.kind, ENTRY.c.kind)
    dated = [POSTING.c.account_id == account_id]
    if as_of is not None:
        dated.append(POSTING.c.effective_date <= as_of)
    src = POSTING.join(ENTRY, ENTRY.c.seq == POSTING.c.entry_seq).outerjoin(orig, orig.c.seq == ENTRY.c.reverses)
    flows_of: dict[int, list[tuple[str, int]]] = {}
    for fid, k, amount in s.execute(select(POSTING.c.fund_id, kind, func.sum(POSTING.c.amount_fen))
                                    .select_from(src).where(*dated).group_by(POSTING.c.fund_id, kind)):
        flows_of.setdefault(int(fid), []).append((k, int(amount)))
    codes = dict(s.execute(select(FUND.c.id, FUND.c.code).where(FUND.c.id.in_(list(flows_of)))).all())
    if as_of is None:
        stored = dict(s.execute(select(BALANCE.c.fund_id, BALANCE.c.balance_fen)
                                .where(BALANCE.c.account_id == account_id)).all())
        balance_of = {fid: int(stored.get(fid, 0)) for fid in flows_of}
    else:
        balance_of = {fid: journal.account_balance(s, account_id, fid, as_of) for fid in flows_of}
    figures = []
    for fid, pairs in flows_of.items():
        allocated, spent = split_flows(pairs)
        figures.append(FundFigures(codes[fid], allocated, spent, balance_of[fid]))
    figures.sort(key=lambda f: f.fund)

    first_on = s.execute(select(func.min(POSTING.c.effective_date)).select_from(
        POSTING.join(ENTRY, ENTRY.c.seq == POSTING.c.entry_seq)).where(
        *dated, POSTING.c.amount_fen > 0, ENTRY.c.kind.in_(FUNDING_IN_KINDS))).scalar()
    # The last payment that stands (not itself reversed by the date asked).
    rev = ENTRY.alias("rev")
    undone = exists(select(rev.c.seq).where(rev.c.reverses == ENTRY.c.seq,
                                            True if as_of is None else rev.c.effective_date <= as_of))
    last_on = s.execute(select(func.max(POSTING.c.effective_date)).select_from(
        POSTING.join(ENTRY, ENTRY.c.seq == POSTING.c.entry_seq)).where(
        *dated, POSTING.c.amount_fen < 0, ENTRY.c.kind.not_in(sorted(FUNDING_KINDS | {"reversal"})), ~undone)).scalar()
    return figures, _as_date(first_on), _as_date(last_on)


def _as_date(value) -> dt.date | None:
    # min()/max() of a date column come back as text on SQLite.
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def list_requests(engine: Engine, actor: Actor, status: str | None = None, project: str | None = None,
                  page: int = 1, page_size: int = DEFAULT_PAGE_SIZE) -> Page:
    """Allocation requests, newest first (an approver's queue: status='pending'); paged and scoped."""
    require(actor, "project.read")
    page, page_size = clamp_page(page, page_size)
    conds = [_readable_where(actor, _TO.c.township)]
    if _scope(actor) is not None:
        conds.append(or_(REQUEST.c.from_project_id.is_(None), _readable_where(actor, _FROM.c.township)))
    if status:
        conds.append(REQUEST.c.status == status)
    if project:
        conds.append(or_(_TO.c.project_code == project, _FROM.c.project_code == project))
    where = and_(True, *conds)
    with read_only(engine) as s:
        base = _request_query().where(where)
        total = s.execute(select(func.count()).select_from(base.subquery())).scalar_one()
        rows = s.execute(base.order_by(REQUEST.c.id.desc()).limit(page_size).offset((page - 1) * page_size))
        return Page([_request_view(r) for r in rows], int(total), page, page_size)


def get_request(engine: Engine, actor: Actor, request_id: int) -> RequestView | None:
    require(actor, "project.read")
    with read_only(engine) as s:
        r = s.execute(_request_query().where(REQUEST.c.id == request_id)).first()
        if r is None:
            return None
        townships = [t for (t,) in s.execute(select(PROJECT.c.township).where(
            PROJECT.c.id.in_([i for i in (r.project_id, r.from_project_id) if i is not None])))]
        return _request_view(r) if all(_readable(actor, t) for t in townships) else None


def refuse_unless_receiving(s: Session, account_code: str, where: str) -> None:
    """For the direct posting paths (services.allocate/reallocate): a project in the library must be
    approved or implementing to receive money. An account with no project (history) is not checked."""
    row = s.execute(select(PROJECT.c.project_code, PROJECT.c.status)
                    .where(PROJECT.c.account_code == account_code)).first()
    if row is not None and row.status not in RECEIVING:
        raise _refuse(where, "project", row.project_code,
                      f"the project is {row.status}: only an approved or implementing project receives money")


# ---------------------------------------------------------------------------------------------
# Status moves a page may offer


def moves_for(actor: Actor, project: ProjectView) -> list[str]:
    """The status moves `actor` may make on `project` now, as far as role, scope and four eyes go
    (closing may still be refused for money held or requests pending: the service says why)."""
    if not _changeable(actor, project.township):
        return []
    targets = [NEXT_STATUS[project.status]] if project.status in NEXT_STATUS else []
    if project.status in WITHDRAWABLE:
        targets.append("closed")
    out = []
    for to in targets:
        if not allowed(actor, TRANSITION_PERMISSION[to]):
            continue
        if to in FOUR_EYES and project.created_by == actor.username:
            continue
        out.append(to)
    return out


# ---------------------------------------------------------------------------------------------
# Spreadsheet imports: the projects and allocations templates (ledger.imports.files, DESIGN §8)
#
# Both are all or nothing in one transaction with their audit rows; every problem names the sheet
# row, column and value. A township officer's file is checked against its scope row by row (a
# refusal naming the row, rather than one PermissionDenied for the file, so the officer sees which
# rows to take out); nothing is written either way.

MAX_IMPORT_ROWS = 10_000  # a county's library is hundreds of projects; allocations a few thousand a year
IMPORT_MEMO = "资金安排表导入 allocation sheet"
HISTORY_MEMO = "资金安排历史补录 allocation recorded as history"
# A history allocation records money a project already received before the county adopted Huimin.
# A county migrating mid-year has projects being carried out, finished or already accepted (验收), and
# their allocations happened while they were approved; so every status that follows approval is
# accepted. Not `planned`: nobody approved the project, and an allocation into an unapproved project is
# what the approver's check exists to stop (approve it in the library first, then import). Not
# `closed`: a closed project holds nothing and stays closed; money recorded into it could never move.
HISTORY_RECEIVING = ("approved", "implementing", "completed", "accepted")

# ProjectIn's field -> the projects template's column, where they differ.
_SHEET_COLUMN = {"code": "project_code"}


@dataclass(frozen=True, slots=True)
class AllocationRowIn:
    """One row of the allocations template: money from the pool to a project in one fund."""

    project_code: str
    fund_code: str
    amount_fen: int
    allocated_on: dt.date
    row: int | None = None


def allocation_row_key(r: AllocationRowIn) -> str:
    """An allocation row has no reference number of its own, so its details are its key: the same row
    imported again (or in another file) is the same allocation, never a second one."""
    return f"alloc-sheet:{r.project_code}:{r.fund_code}:{r.amount_fen}:{r.allocated_on.isoformat()}"


def _row_problem(row: int | None, column: str, value: object, message: str) -> Problem:
    return Problem(f"row {row}" if row is not None else "file", column, "" if value is None else str(value),
                   message, row=row)


def _refusal(problems: list[Problem]) -> LedgerRefusal:
    return LedgerRefusal(sorted(problems, key=lambda p: p.row or 0))


def _too_many(n: int) -> None:
    if n > MAX_IMPORT_ROWS:
        raise LedgerRefusal([Problem("file", "file", str(n), f"more than {MAX_IMPORT_ROWS:,} rows: split the sheet")])


def _in_chunks(s: Session, stmt_for, values: Iterable) -> list:
    """Rows of `stmt_for(chunk)` for every chunk of `values` (IN lists stay under parameter limits)."""
    out: list = []
    for chunk in bulk.chunks(sorted(set(values))):
        out.extend(s.execute(stmt_for(chunk)).all())
    return out


def _township_names(s: Session) -> dict[str, str]:
    """A township's code or name -> its name (a name wins over another township's code), like the registry."""
    rows = s.execute(select(Township.__table__.c.code, Township.__table__.c.name)).all()
    out = {code: name for code, name in rows}
    out.update({name: name for _code, name in rows})
    return out


def _differences(r: ProjectIn, township: str | None, have) -> list[tuple[str, str, str]]:
    """(column, sheet value, registered value) where a sheet row differs from the project registered
    under its code. The performance target is not in the template and is not compared."""
    def show(v) -> str:
        return "" if v is None else (v.isoformat() if isinstance(v, dt.date) else str(v))

    def money(v) -> str:
        return "" if v is None else format_yuan(int(v))

    pairs = [
        ("name", r.name.strip(), have.name, show),
        ("industry", r.industry, have.industry, show),
        ("township", township, have.township, show),
        ("implementer", (r.implementer or "").strip() or None, have.implementer, show),
        ("budget", r.budget_fen, have.budget_fen, money),
        ("standard", r.standard_fen, have.standard_fen, money),
        ("start_on", r.start_on, have.start_on, show),
        ("end_on", r.end_on, have.end_on, show),
    ]
    return [(col, fmt(mine), fmt(theirs)) for col, mine, theirs, fmt in pairs if mine != theirs]


def _sheet_problem(p: Problem, r: AllocationRowIn | None) -> Problem:
    """A journal refusal of a history allocation, said in the sheet's terms: the row, and the column
    and value the officer typed (the pool's limit is the amount's; an account not yet open or a
    closed period is the date's), the journal's message kept."""
    if r is None:
        return p
    if p.field.endswith(".amount"):
        return _row_problem(r.row, "amount", format_yuan(r.amount_fen), p.message)
    if p.field.endswith(".account") or p.field == "date":
        return _row_problem(r.row, "allocated_on", r.allocated_on.isoformat(), f"{p.value}: {p.message}")
    if p.field.endswith(".fund"):
        return _row_problem(r.row, "fund_code", r.fund_code, p.message)
    return _row_problem(r.row, p.field, p.value, p.message)


def import_projects(engine: Engine, actor: Actor, rows: Iterable[ProjectIn]) -> dict:
    """Register a projects sheet in the library (status planned, each with its first history row).

    All or nothing. A code already registered with the same details is left as it is (a re-import
    creates nothing and writes no audit row); with other details it is a conflict naming the row, the
    column and both values: a sheet does not change the library behind its history. A township must be
    in the registry's township table (by name or code) and is stored by its name; blank is county-wide.
    """
    require(actor, "project.create")
    rows = list(rows)
    _too_many(len(rows))
    problems: list[Problem] = []
    for r in rows:
        for p in project_problems(r):
            problems.append(_row_problem(r.row, _SHEET_COLUMN.get(p.field, p.field), p.value, p.message))
    # Two codes of one sheet that would share an account ('xm_1', 'xm-1').
    first_of_account: dict[str, ProjectIn] = {}
    sharing: set[int] = set()  # rows already refused for that (not refused again against the library)
    for i, r in enumerate(rows):
        if not isinstance(r.code, str) or not PROJECT_CODE_RE.match(r.code):
            continue
        other = first_of_account.setdefault(flows.project_account(r.code), r)
        if other is not r and other.code != r.code:
            sharing.add(i)
            problems.append(_row_problem(r.row, "project_code", r.code,
                                         f"shares its account {flows.project_account(r.code)} with project "
                                         f"{other.code} of row {other.row}; choose a code that differs in more "
                                         "than punctuation"))
    scope = _scope(actor)
    created = unchanged = 0
    with unit_of_work(engine) as s:
        towns = _township_names(s)
        scope_name = towns.get(scope, scope) if scope is not None else None
        codes = [r.code for r in rows if isinstance(r.code, str)]
        registered = {x.project_code: x for x in _in_chunks(
            s, lambda c: select(PROJECT).where(PROJECT.c.project_code.in_(c)), codes)}
        accounts = {x.account_code: x.project_code for x in _in_chunks(
            s, lambda c: select(PROJECT.c.account_code, PROJECT.c.project_code).where(PROJECT.c.account_code.in_(c)),
            [flows.project_account(c) for c in codes if PROJECT_CODE_RE.match(c)])}
        new: list[tuple[ProjectIn, str | None]] = []
        for i, r in enumerate(rows):
            township = None
            if r.township is not None and r.township.strip():
                township = towns.get(r.township.strip())
                if township is None:
                    problems.append(_row_problem(r.row, "township", r.township,
                                                 "no such township in the registry (by name or code); register "
                                                 "it first (huimin townships add CODE NAME)"))
                    continue
            if scope is not None and township != scope_name:
                problems.append(_row_problem(r.row, "township", r.township,
                                             f"outside your township ({scope}): a township officer registers its "
                                             "own township's projects; county-wide ones are the county's"))
                continue
            have = registered.get(r.code)
            if have is not None:
                if not _readable(actor, have.township):
                    # Another township's project: say no more than that the code is taken.
                    problems.append(_row_problem(r.row, "project_code", r.code, "project code already registered"))
                    continue
                diffs = _differences(r, township, have)
                for column, mine, theirs in diffs:
                    problems.append(_row_problem(r.row, column, mine,
                                                 f"project {r.code} is already registered with {column} "
                                                 f"{theirs!r}: a sheet cannot change a registered project"))
                if not diffs:
                    unchanged += 1
                continue
            account_code = flows.project_account(r.code) if PROJECT_CODE_RE.match(r.code) else None
            holder = accounts.get(account_code) if account_code else None
            if holder is not None and i not in sharing:
                problems.append(_row_problem(r.row, "project_code", r.code,
                                             f"its account {account_code} is already the account of project "
                                             f"{holder}; choose a code that differs in more than punctuation"))
                continue
            if i not in sharing:
                new.append((r, township))
        if problems:
            raise _refusal(problems)
        now = utcnow()
        for r, township in new:
            account_code = flows.project_account(r.code)
            values = dict(project_code=r.code, name=r.name.strip(), industry=r.industry, township=township,
                          implementer=(r.implementer or "").strip() or None, budget_fen=r.budget_fen,
                          standard_fen=r.standard_fen, start_on=r.start_on, end_on=r.end_on, status="planned",
                          performance_target=r.performance_target, account_code=account_code,
                          created_by=actor.user_id, created_at=now)
            if s.get_bind().dialect.name == "postgresql":
                # Another officer may be importing the same code right now: a clean refusal, not a 500.
                new_id = s.execute(pg_insert(PROJECT).values(**values).on_conflict_do_nothing()
                                   .returning(PROJECT.c.id)).scalar()
                if new_id is None:
                    problems.append(_row_problem(r.row, "project_code", r.code,
                                                 "project code (or its account) registered a moment ago by "
                                                 "another import; import the sheet again"))
                    continue
            else:
                new_id = s.execute(PROJECT.insert().values(**values).returning(PROJECT.c.id)).scalar_one()
            s.execute(PSTATUS.insert().values(project_id=new_id, from_status=None, to_status="planned",
                                              changed_by=actor.user_id, changed_at=now,
                                              reason=f"registered by import 导入入库 (row {r.row})"))
            audit.record(s, actor, "project.create", "project", r.code,
                         after=_project_audit(r, township, account_code) | {"source": "import", "row": r.row})
            created += 1
        if problems:
            raise _refusal(problems)
    return {"projects_created": created, "projects_unchanged": unchanged}


def import_allocations(engine: Engine, actor: Actor, rows: Iterable[AllocationRowIn],
                       history: history_marks.HistoryMark | None = None) -> dict:
    """An allocations sheet: each row a request from the pool to a project in one fund. All or nothing.

    Today's work (no `history`): each row becomes a pending allocation request prepared by the importer,
    which an approver other than the importer then approves (posting it) or rejects, as any request.
    History: rows already decided before the county adopted Huimin are recorded as done on their own
    dates: the request is created approved (prepared by the importer, decided by the named approver)
    and its entry posted through ledger.flows and the journal (maker = importer, checker = approver),
    marked with a history_record row (the file's sha256, the sheet row). The journal's limits refuse a
    row the pool cannot pay, naming the row; a period closed since refuses it too.

    Idempotent by `allocation_row_key`: a row imported before is counted, not created again. A history
    row that is already a request decided (or waiting) in the system is refused: it is today's work,
    not history, and marking it would claim a paper approval the journal does not show.
    """
    require(actor, "fund.allocate")
    rows = list(rows)
    _too_many(len(rows))
    problems: list[Problem] = []
    keys = [allocation_row_key(r) for r in rows]
    with unit_of_work(engine) as s:
        checker = (history_marks.approver(s, actor, "allocations", history.approved_by)
                   if history is not None else None)
        found = {x.project_code: x for x in _in_chunks(
            s, lambda c: select(PROJECT).where(PROJECT.c.project_code.in_(c)), [r.project_code for r in rows])}
        fund_ids = dict(_in_chunks(s, lambda c: select(FUND.c.code, FUND.c.id).where(FUND.c.code.in_(c)),
                                   [r.fund_code for r in rows]))
        prior = {x.key: x for x in _in_chunks(s, lambda c: select(REQUEST).where(REQUEST.c.key.in_(c)), keys)}
        marked = {int(seq) for (seq,) in _in_chunks(
            s, lambda c: select(history_marks.HISTORY.c.entry_seq).where(history_marks.HISTORY.c.entry_seq.in_(c)),
            [int(x.entry_seq) for x in prior.values() if x.entry_seq is not None])}
        receiving = HISTORY_RECEIVING if history is not None else RECEIVING
        todo: list[tuple[AllocationRowIn, str, object, int]] = []
        already = 0
        for r, key in zip(rows, keys, strict=True):
            p = found.get(r.project_code)
            fund_id = fund_ids.get(r.fund_code)
            if p is None or not _readable(actor, p.township):
                problems.append(_row_problem(r.row, "project_code", r.project_code,
                                             "no such project in the library (import the projects sheet first)"))
            elif not _changeable(actor, p.township):
                problems.append(_row_problem(r.row, "project_code", r.project_code,
                                             "a county-wide project: its money is allocated by county-level users"))
            if fund_id is None:
                problems.append(_row_problem(r.row, "fund_code", r.fund_code,
                                             "unknown fund (import the funds sheet, its receipt, first)"))
            if p is None or fund_id is None or not _changeable(actor, p.township):
                continue
            have = prior.get(key)
            if have is not None:
                if (have.kind, have.project_id, have.fund_id, int(have.amount_fen), have.allocate_on) != (
                        "allocation", p.id, fund_id, r.amount_fen, r.allocated_on):
                    problems.append(_row_problem(r.row, "project_code", r.project_code,
                                                 f"key {key} is already used by allocation request {have.id} with "
                                                 "other details"))
                elif history is not None and (have.status != "approved" or int(have.entry_seq) not in marked):
                    problems.append(_row_problem(
                        r.row, "amount", format_yuan(r.amount_fen),
                        f"this allocation is already allocation request {have.id} ({have.status}), entered as "
                        "today's work and not as history: take the row out of the history sheet"))
                else:
                    already += 1
                continue
            if p.status not in receiving:
                allowed_statuses = " or ".join(receiving)
                problems.append(_row_problem(r.row, "project_code", r.project_code,
                                             f"the project is {p.status}: only a project that is {allowed_statuses} "
                                             "receives money" + (" (approve it in the library first)"
                                                                 if p.status == "planned" else "")))
                continue
            todo.append((r, key, p, fund_id))
        if problems:
            raise _refusal(problems)

        now = utcnow()
        memo = HISTORY_MEMO if history is not None else IMPORT_MEMO
        made: list[tuple[AllocationRowIn, int, object]] = []  # (row, request id, project)
        for r, key, p, fund_id in todo:
            values = dict(key=key, kind="allocation", project_id=p.id, from_project_id=None, fund_id=fund_id,
                          amount_fen=r.amount_fen, allocate_on=r.allocated_on, memo=memo, status="pending",
                          prepared_by=actor.user_id, prepared_at=now)
            if s.get_bind().dialect.name == "postgresql":
                # The same sheet imported twice at once: the second waits for the first, then counts it.
                new_id = s.execute(pg_insert(REQUEST).values(**values).on_conflict_do_nothing(index_elements=["key"])
                                   .returning(REQUEST.c.id)).scalar()
                if new_id is None:
                    already += 1
                    continue
            else:
                new_id = s.execute(REQUEST.insert().values(**values).returning(REQUEST.c.id)).scalar_one()
            made.append((r, int(new_id), p))

        if checker is None:
            for r, request_id, p in made:
                audit.record(s, actor, "allocation.prepare", "allocation_request", str(request_id), after={
                    "key": allocation_row_key(r), "kind": "allocation", "project": p.project_code,
                    "from_project": None, "fund": r.fund_code, "amount": format_yuan(r.amount_fen),
                    "date": r.allocated_on, "memo": memo, "source": "import", "row": r.row})
            return {"requests_created": len(made), "requests_already": already}

        assert history is not None
        # Posted in date order (then sheet order), so the journal reads as the year happened.
        made.sort(key=lambda m: (m[0].allocated_on, m[0].row or 0))
        drafts = [flows.allocation(f"allocation-request-{request_id}", p.project_code, r.fund_code, r.amount_fen,
                                   r.allocated_on, memo, maker_id=actor.user_id, checker_id=checker.user_id)
                  for r, request_id, p in made]
        first_use: dict[str, dt.date] = {}
        for d in drafts:
            for posting in d.postings:
                first_use[posting.account] = min(first_use.get(posting.account, d.effective_date), d.effective_date)
        ensure_accounts(s, first_use)
        posted: list[journal.Posted] = []
        try:
            for i in range(0, len(drafts), journal.MAX_DRAFTS_PER_CALL):
                part = slice(i, i + journal.MAX_DRAFTS_PER_CALL)
                posted.extend(journal.post(s, drafts[part], labels=[f"row {m[0].row}" for m in made[part]]))
        except LedgerRefusal as exc:
            by_label = {f"row {m[0].row}": m[0] for m in made}
            raise _refusal([_sheet_problem(p, by_label.get(p.where)) for p in exc.problems]) from None
        decided = utcnow()
        for (r, request_id, p), entry in zip(made, posted, strict=True):
            s.execute(update(REQUEST).where(REQUEST.c.id == request_id).values(
                status="approved", decided_by=checker.user_id, decided_at=decided, entry_seq=entry.seq))
            audit.record(s, actor, "allocation.history", "allocation_request", str(request_id), after={
                "key": allocation_row_key(r), "project": p.project_code, "fund": r.fund_code,
                "amount": format_yuan(r.amount_fen), "date": r.allocated_on, "entry": entry.seq,
                "maker_id": actor.user_id, "checker_id": checker.user_id, "approved_by": checker.username,
                "file_sha256": history.file_sha256, "row": r.row})
        marks = history_marks.mark(s, "allocations", history.file_sha256, actor, checker,
                                   [(entry.seq, m[0].row) for m, entry in zip(made, posted, strict=True)])
        return {"allocations_recorded": len(made), "allocations_already_recorded": already, "history_marked": marks}


# ---------------------------------------------------------------------------------------------
# Export of the project list (audited)


def export_projects(engine: Engine, actor: Actor, f: ProjectFilter, fmt: str) -> tuple[str, bytes]:
    """The whole filtered list (not just a page) as XLSX or CSV, with an audit row. Returns (name, bytes)."""
    from ledger import exports
    from ledger.money import fen_to_yuan
    from ledger.queries import MAX_EXPORT_ROWS

    if fmt not in ("xlsx", "csv"):
        raise _refuse("export", "format", fmt, "format must be xlsx or csv")
    require(actor, "project.read")
    with read_only(engine) as s:
        items = [_project_view(r) for r in s.execute(_project_query().where(_project_where(actor, f))
                                                      .order_by(PROJECT.c.project_code).limit(MAX_EXPORT_ROWS))]
    headers = ["code 项目编号", "name 项目名称", "industry 产业", "township 乡镇", "implementer 实施主体",
               "status 状态", "budget 预算", "standard 补助标准", "start_on 开始日期", "end_on 结束日期",
               "balance 结余", "created_by 录入人"]
    rows = [[p.code, p.name, INDUSTRY_NAMES_ZH.get(p.industry, p.industry), p.township or "全县",
             p.implementer or "", STATUS_NAMES_ZH.get(p.status, p.status), fen_to_yuan(p.budget_fen),
             None if p.standard_fen is None else fen_to_yuan(p.standard_fen), p.start_on, p.end_on,
             fen_to_yuan(p.balance_fen), p.created_by or ""] for p in items]
    data = exports.to_xlsx(headers, rows, "projects") if fmt == "xlsx" else exports.to_csv(headers, rows)
    name = f"huimin-projects-{utcnow().strftime('%Y%m%d-%H%M%S')}.{fmt}"
    with unit_of_work(engine) as s:
        audit.record(s, actor, "export.projects", "export", name, after={
            "format": fmt, "rows": len(rows), "params": {k: v for k, v in dataclasses.asdict(f).items() if v}})
    return name, data


def project_townships(engine: Engine, actor: Actor) -> list[str]:
    """The townships the actor's readable projects name (for a filter drop-down)."""
    require(actor, "project.read")
    with read_only(engine) as s:
        return [t for (t,) in s.execute(select(PROJECT.c.township).distinct()
                                        .where(PROJECT.c.township.is_not(None),
                                               _readable_where(actor, PROJECT.c.township))
                                        .order_by(PROJECT.c.township))]
