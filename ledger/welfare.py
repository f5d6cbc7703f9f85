"""Public-welfare posts (公益性岗位): DESIGN.md §5. Owns the roster of posts and the monthly wage roll.

The roster. A post (`welfare_post`) is held by one person (the holder, an active member of a household in
the registry, named by a validated resident ID) of one household, is paid its monthly wage from one
public-welfare-post project (industry `welfare_post`) and runs from `start_on` to `end_on` (open while
`end_on` is NULL). Post types and what the reference county (Yutian, 2020) had of each: general 一般公益岗
(2,360, placed by the labour bureau), forest 护林员 (2,024), grassland 草管员 (220), road 护路员 (1,000),
pv 光伏管护员 (120, PV-station keepers): 5,724 posts.

Rules, each checked here with an error naming the sheet row, column and value (nothing half-written):

- One post per household at a time: the date ranges of one household's posts never overlap. The partial
  unique index "one open post per household" backs the commonest case up in the database (two open posts),
  and an advisory lock (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers) keeps two
  imports from each seeing the household free.
- A post keeps its holder, household, project, type, wage and start (the database's update guard refuses
  anything else): a new holder or a new wage is a new post, registered after the old one is ended.
  Ending sets `end_on` once (`end_post`, or an `end_on` in a re-imported roster); an ended post stays ended.
- Re-importing the same roster is a no-op. A row for a registered post with other details is a conflict
  naming the column and both values; a blank `end_on` for a post since ended changes nothing (the sheet
  was made before the ending).
- A post cannot be ended before a month whose wage is already in a roll (pending, posted or paid).

The wage roll (`wage_roll`). Every post of one project held on any day of the month is paid its full
monthly wage for that month: no pro rata for a post that starts or ends mid-month (the county pays a
month's post as a month; the roster's dates decide only whether the month is paid). A household is paid
at most once a month: when its post changed within the month, the month goes to the post that was held
first (the same rule `payments.post_for` applies when it checks the row). The rows (ref
`WAGE-<post_no>-<YYYY-MM>`, purpose wage, payee the holder, the household's current 一卡通 account from the
registry) go to `payments.import_payments` with control totals equal to what was generated, so the batch
then takes the normal road: disclosure (公示), approval by another user, posting to
`Expenses:Wage:<Type>`. Months already in a roll are skipped, so generating a month again is a no-op; a
month whose earlier roll was rejected is generated again under the next free ref (`…-2`, `…-3`).
Payments writes the batch and its audit row in its own transaction.

Township scope: a user scoped to a township reads and manages the posts of its township's households
only, and generates the roll of its township's posts (a county-wide programme's roll is then one per
township). Nothing here deletes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine, and_, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ledger import audit, bulk
from ledger.db import read_only, unit_of_work
from ledger.entries import Problem
from ledger.ids import mask_id, parse_resident_id
from ledger.journal import LedgerRefusal
from ledger.models import (
    WELFARE_POST_TYPES,
    AuditLog,
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
from ledger.permissions import Actor, require
from ledger.queries import DEFAULT_PAGE_SIZE, MAX_EXPORT_ROWS, Page, clamp_page

POST = WelfarePost.__table__
HOUSEHOLD = Household.__table__
PERSON = Person.__table__
PROJECT = Project.__table__
TOWNSHIP = Township.__table__
VILLAGE = Village.__table__
BATCH = PaymentBatch.__table__
ROW = PaymentRow.__table__
AUDIT = AuditLog.__table__

POST_TYPE_NAMES_ZH = {"general": "一般公益岗", "forest": "护林员", "grassland": "草管员", "road": "护路员",
                      "pv": "光伏管护员"}
assert tuple(POST_TYPE_NAMES_ZH) == WELFARE_POST_TYPES
WELFARE_INDUSTRY = "welfare_post"

MAX_ROSTER_ROWS = 50_000  # a county's roster is a few thousand posts (5,724 in the reference county)
# The wage ref is WAGE-<post_no>-<YYYY-MM>[-n] and a payment ref holds 64 characters.
MAX_POST_NO_LEN = 32
POST_NO_RE = re.compile(r"[0-9A-Za-z][0-9A-Za-z_.-]{0,31}\Z")
# A batch number is what an officer's sheet may hold as one (no spaces, at most 64 characters: 2026/04 too).
BATCH_NO_RE = re.compile(r"[^\s\x00-\x1f\x7f]{1,64}\Z")
PERIOD_RE = re.compile(r"(\d{4})-(\d{2})\Z")
MAX_NAME_LEN = 64
MAX_REASON_LEN = 200
# A month of a public-welfare post pays hundreds of yuan to about two thousand; ten thousand or more is a
# typing slip (fen typed as yuan, a zero too many), refused rather than paid every month.
MAX_MONTHLY_WAGE_FEN = 1_000_000
# Wage rows that mean "this month is in a roll already": waiting, posted, paid, or failed (a failed
# row is re-issued through payments.reissue, not generated again). A rejected row does not count.
IN_A_ROLL = ("pending", "posted", "paid", "failed")
LIVE_WAGE_STATUSES = ("pending", "posted", "paid")
# Roster writes queue on this transaction-level advisory lock on PostgreSQL, so that the overlap check
# and the write see the same roster.
_PG_LOCK_KEY = 0x4875696D696E_05
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
# Who sees holders' full resident IDs: as on the registry pages, the finance officer (who keeps the
# roster) and the inspector; the approver sees the 公示 form (ledger.ids.mask_id).
FULL_ID_ROLES = frozenset({"finance_officer", "inspector", "system"})


# ---------------------------------------------------------------------------------------------
# Inputs and reports


@dataclass(frozen=True, slots=True)
class PostIn:
    """One row of the posts template (DESIGN §8 style). `row` is the sheet row the officer sees."""

    post_no: str
    post_type: str  # key (forest) or Chinese name (护林员)
    project_code: str
    household_no: str
    holder_id_number: str
    holder_name: str
    monthly_wage_fen: int
    start_on: dt.date
    end_on: dt.date | None = None
    row: int | None = None


@dataclass
class RosterReport:
    posts_created: int = 0
    posts_ended: int = 0
    posts_unchanged: int = 0

    def as_dict(self) -> dict:
        return {"posts_created": self.posts_created, "posts_ended": self.posts_ended,
                "posts_unchanged": self.posts_unchanged}


# ---------------------------------------------------------------------------------------------
# Pure rules


def post_type_key(value: object) -> str | None:
    """The post type's key from its key (any case) or its Chinese name; None if neither."""
    if not isinstance(value, str):
        return None
    v = value.strip()
    if v.lower() in POST_TYPE_NAMES_ZH:
        return v.lower()
    return next((k for k, zh in POST_TYPE_NAMES_ZH.items() if zh == v), None)


def month_bounds(period: str) -> tuple[dt.date, dt.date] | None:
    """First and last day of 'YYYY-MM'; None when it is not a real month."""
    m = PERIOD_RE.match(period or "") if isinstance(period, str) else None
    if m is None or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 1900:
        return None
    year, month = int(m.group(1)), int(m.group(2))
    first = dt.date(year, month, 1)
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    return first, nxt - dt.timedelta(days=1)


def overlaps(a_start: dt.date, a_end: dt.date | None, b_start: dt.date, b_end: dt.date | None) -> bool:
    """Do two posts' date ranges (end inclusive, None: open) share a day?"""
    return (a_end is None or a_end >= b_start) and (b_end is None or b_end >= a_start)


def held_in(start_on: dt.date, end_on: dt.date | None, first: dt.date, last: dt.date) -> bool:
    """Was a post held on any day from `first` to `last`?"""
    return overlaps(start_on, end_on, first, last)


def wage_ref(post_no: str, period: str, attempt: int = 1) -> str:
    """The payment ref of a post's wage for one month; the n-th attempt after rejected rolls gets '-n'."""
    base = f"WAGE-{post_no}-{period}"
    return base if attempt == 1 else f"{base}-{attempt}"


def _where(p: PostIn) -> str:
    return f"row {p.row}" if p.row is not None else f"post {p.post_no}"


def _plain(value: object, max_len: int) -> str | None:
    """A one-line text of at most `max_len` characters, stripped; None when it is not one."""
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > max_len or _CONTROL_RE.search(value):
        return None
    return value.strip()


def post_problems(p: PostIn, today: dt.date) -> list[Problem]:
    """Everything wrong with one roster row that can be known without the database."""
    out: list[Problem] = []

    def bad(column: str, value: object, message: str) -> None:
        out.append(Problem(_where(p), column, "" if value is None else str(value)[:100], message, row=p.row))

    if not isinstance(p.post_no, str) or not POST_NO_RE.match(p.post_no):
        bad("post_no", p.post_no, f"a post number is 1–{MAX_POST_NO_LEN} letters, digits, '_', '.' or '-', "
                                  "starting with a letter or digit")
    if post_type_key(p.post_type) is None:
        bad("post_type", p.post_type, "post type must be one of " +
            ", ".join(f"{k} {zh}" for k, zh in POST_TYPE_NAMES_ZH.items()))
    if _plain(p.project_code, 64) is None:
        bad("project_code", p.project_code, "the project code is missing")
    if _plain(p.household_no, 32) is None:
        bad("household_no", p.household_no, "the household number is missing")
    rid, message = parse_resident_id(p.holder_id_number, today) if isinstance(p.holder_id_number, str) else (
        None, "the ID number is missing")
    if rid is None:
        bad("holder_id_number", p.holder_id_number, message or "not a valid ID number")
    if _plain(p.holder_name, MAX_NAME_LEN) is None:
        bad("holder_name", p.holder_name, f"the holder's name: 1–{MAX_NAME_LEN} characters on one line")
    wage = p.monthly_wage_fen
    if not isinstance(wage, int) or isinstance(wage, bool) or wage <= 0:
        bad("monthly_wage", wage, "the monthly wage is a positive amount in fen")
    elif wage >= MAX_MONTHLY_WAGE_FEN:
        bad("monthly_wage", format_yuan(wage), f"a monthly wage of {format_money(wage)} is not a public-welfare "
                                               f"post's wage (under {format_money(MAX_MONTHLY_WAGE_FEN)}): a "
                                               "digit too many?")
    if not isinstance(p.start_on, dt.date):
        bad("start_on", p.start_on, "the start date (上岗日期) is missing")
    elif p.end_on is not None and (not isinstance(p.end_on, dt.date) or p.end_on < p.start_on):
        bad("end_on", p.end_on, f"the end date is before the start date {p.start_on.isoformat()}")
    return out


def _describe(post_no: str, post_type: str, start_on: dt.date, end_on: dt.date | None) -> str:
    until = end_on.isoformat() if end_on else "open"
    return f"post {post_no} ({post_type} {POST_TYPE_NAMES_ZH.get(post_type, '')}, {start_on.isoformat()} – {until})"


# ---------------------------------------------------------------------------------------------
# Scope and look-ups


def _lock(s: Session) -> None:
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})


def _in_chunks(s: Session, stmt_for, values: Iterable) -> list:
    """Rows of `stmt_for(chunk)` for every chunk of `values` (IN lists stay under parameter limits)."""
    out: list = []
    for chunk in bulk.chunks(sorted(set(values))):
        out.extend(s.execute(stmt_for(chunk)).all())
    return out


def _scope(actor: Actor) -> str | None:
    return (actor.township or "").strip() or None


def _scope_township_id(s: Session, actor: Actor) -> int | None:
    """None: county-wide. Otherwise the actor's township id (by code or name; -1: not registered)."""
    scope = _scope(actor)
    if scope is None:
        return None
    row = s.execute(select(TOWNSHIP.c.id).where(or_(TOWNSHIP.c.name == scope, TOWNSHIP.c.code == scope))
                    .order_by((TOWNSHIP.c.name == scope).desc())).first()
    return int(row.id) if row is not None else -1


def _full_ids(actor: Actor) -> bool:
    return actor.role in FULL_ID_ROLES


def _show_id(actor: Actor, number: str) -> str:
    return number if _full_ids(actor) else mask_id(number)


# ---------------------------------------------------------------------------------------------
# The roster: import (upsert) and ending


@dataclass
class _Plan:
    """One valid roster row on its way in."""

    p: PostIn
    post_type: str
    holder_id: str  # the resident ID as the registry keeps it (normalised)
    project_id: int | None = None
    household_id: int | None = None
    existing: object | None = None  # the registered post with this number
    ends: bool = False  # ends the registered post


def upsert_posts(engine: Engine, actor: Actor, rows: Sequence[PostIn]) -> RosterReport:
    """Register a roster of posts, or end registered ones (an `end_on` filled in): all or nothing.

    Every problem comes back at once, each with its sheet row, column and value; any problem means
    nothing is written. Re-importing the same roster changes nothing and writes no audit row.
    """
    require(actor, "welfare.manage")
    rows = list(rows)
    if not rows:
        raise LedgerRefusal([Problem("file", "rows", "0", "the roster has no rows")])
    if len(rows) > MAX_ROSTER_ROWS:
        raise LedgerRefusal([Problem("file", "rows", str(len(rows)), f"more than {MAX_ROSTER_ROWS:,} posts in one "
                                                                    "roster: split the sheet")])
    today = dt.date.today()
    problems: list[Problem] = []
    plans: list[_Plan] = []
    first_row: dict[str, PostIn] = {}
    for p in rows:
        found = post_problems(p, today)
        problems.extend(found)
        if isinstance(p.post_no, str) and POST_NO_RE.match(p.post_no):
            first = first_row.setdefault(p.post_no, p)
            if first is not p:
                problems.append(Problem(_where(p), "post_no", p.post_no, f"post {p.post_no} is listed twice "
                                        f"(first at {_where(first)}): one row per post", row=p.row))
                continue
        if not found:
            rid, _ = parse_resident_id(p.holder_id_number, today)
            assert rid is not None
            plans.append(_Plan(p, post_type_key(p.post_type) or "", rid.number))
    report = RosterReport()
    with unit_of_work(engine) as s:
        _lock(s)
        scope_id = _scope_township_id(s, actor)
        scope = _scope(actor)
        projects = {r.project_code: r for r in _in_chunks(s, lambda c: select(
            PROJECT.c.id, PROJECT.c.project_code, PROJECT.c.industry, PROJECT.c.status, PROJECT.c.township)
            .where(PROJECT.c.project_code.in_(c)), [x.p.project_code.strip() for x in plans])}
        households = {r.household_no: r for r in _in_chunks(s, lambda c: select(
            HOUSEHOLD.c.id, HOUSEHOLD.c.household_no, HOUSEHOLD.c.status, HOUSEHOLD.c.township_id,
            TOWNSHIP.c.code.label("township_code"), TOWNSHIP.c.name.label("township_name"))
            .select_from(HOUSEHOLD.join(TOWNSHIP, TOWNSHIP.c.id == HOUSEHOLD.c.township_id))
            .where(HOUSEHOLD.c.household_no.in_(c)), [x.p.household_no.strip() for x in plans])}
        memberships: dict[str, list] = defaultdict(list)
        for r in _in_chunks(s, lambda c: select(PERSON.c.id_number, PERSON.c.household_id, PERSON.c.name,
                                                PERSON.c.is_active).where(PERSON.c.id_number.in_(c)),
                            [x.holder_id for x in plans]):
            memberships[r.id_number].append(r)
        existing = {r.post_no: r for r in _in_chunks(s, lambda c: select(
            POST, HOUSEHOLD.c.household_no, HOUSEHOLD.c.township_id, PROJECT.c.project_code)
            .select_from(POST.join(HOUSEHOLD, HOUSEHOLD.c.id == POST.c.household_id)
                         .join(PROJECT, PROJECT.c.id == POST.c.project_id))
            .where(POST.c.post_no.in_(c)), [x.p.post_no for x in plans])}

        for x in plans:
            p = x.p
            old = existing.get(p.post_no)
            if old is not None:
                if scope_id is not None and old.township_id != scope_id:
                    problems.append(Problem(_where(p), "post_no", p.post_no, "this post number is already "
                                            "registered (in another township)", row=p.row))
                    continue
                problems.extend(_conflicts(x, old))
                x.existing = old
                x.project_id, x.household_id = int(old.project_id), int(old.household_id)
                if p.end_on is not None and old.end_on is None:
                    x.ends = True
                elif p.end_on is not None and old.end_on != p.end_on:
                    problems.append(Problem(_where(p), "end_on", p.end_on.isoformat(), f"post {p.post_no} already "
                                            f"ended on {old.end_on.isoformat()}: an ending is not changed", row=p.row))
                continue
            project = projects.get(p.project_code.strip())
            if project is None:
                problems.append(Problem(_where(p), "project_code", p.project_code, "no such project in the project "
                                        "library", row=p.row))
            elif project.industry != WELFARE_INDUSTRY:
                problems.append(Problem(_where(p), "project_code", p.project_code, f"project {p.project_code} is a "
                                        f"{project.industry} project: a post is paid from a public-welfare-post "
                                        f"project (industry {WELFARE_INDUSTRY} 公益岗位)", row=p.row))
            elif project.status == "closed":
                problems.append(Problem(_where(p), "project_code", p.project_code, "the project is closed",
                                        row=p.row))
            elif scope is not None and project.township not in (None, scope):
                problems.append(Problem(_where(p), "project_code", p.project_code, "the project belongs to another "
                                        "township", row=p.row))
            h = households.get(p.household_no.strip())
            if h is None or (scope_id is not None and h.township_id != scope_id):
                problems.append(Problem(_where(p), "household_no", p.household_no, "no such household in the "
                                        "registry", row=p.row))
                continue
            if h.status == "closed":
                problems.append(Problem(_where(p), "household_no", p.household_no, "the household is closed (注销)",
                                        row=p.row))
            if project is not None and project.township is not None and \
                    project.township not in (h.township_code, h.township_name):
                problems.append(Problem(_where(p), "household_no", p.household_no, f"the household is in "
                                        f"{h.township_name}, the project in {project.township}", row=p.row))
            problems.extend(_holder_problems(p, h, memberships.get(x.holder_id, [])))
            x.household_id = int(h.id)
            x.project_id = int(project.id) if project is not None else None

        # One post per household at a time, over the roster as it would be after this import.
        household_ids = {x.household_id for x in plans if x.household_id is not None}
        ranges: dict[int, list[tuple[str, str, dt.date, dt.date | None, _Plan | None]]] = defaultdict(list)
        by_no = {x.p.post_no: x for x in plans}
        for r in _in_chunks(s, lambda c: select(POST.c.post_no, POST.c.post_type, POST.c.household_id,
                                                POST.c.start_on, POST.c.end_on).where(POST.c.household_id.in_(c)),
                            household_ids):
            x = by_no.get(r.post_no)
            end_on = x.p.end_on if x is not None and x.ends else r.end_on
            ranges[int(r.household_id)].append((r.post_no, r.post_type, r.start_on, end_on, x))
        for x in plans:
            if x.existing is None and x.household_id is not None:
                ranges[x.household_id].append((x.p.post_no, x.post_type, x.p.start_on, x.p.end_on, x))
        for posts in ranges.values():
            posts.sort(key=lambda t: (t[2], t[0]))
            for i, a in enumerate(posts):
                for b in posts[i + 1:]:
                    if not overlaps(a[2], a[3], b[2], b[3]):
                        continue
                    # Only a new post can bring a clash (an ending shortens a range); it is named at the
                    # row that registers it, the later one when both are new.
                    if _is_new(b):
                        at, other = b[4], a
                    elif _is_new(a):
                        at, other = a[4], b
                    else:
                        continue  # two registered posts that already overlap: not this file's doing
                    problems.append(Problem(
                        _where(at.p), "household_no", at.p.household_no,
                        f"household {at.p.household_no} already holds {_describe(*other[:4])} at that time: one "
                        "post per household at a time; end that post first (离岗) or start this one after it ends",
                        row=at.p.row))

        endings = [x for x in plans if x.ends]
        problems.extend(_wages_after_endings(s, [(x.p, x.household_id, x.project_id, x.p.end_on) for x in endings]))
        if problems:
            raise LedgerRefusal(sorted(problems, key=lambda q: (q.row or 0, q.field)))

        now = utcnow()
        audits = []
        for x in endings:
            s.execute(update(POST).where(POST.c.id == x.existing.id, POST.c.end_on.is_(None))
                      .values(end_on=x.p.end_on, end_reason=f"离岗 roster import (row {x.p.row})"[:MAX_REASON_LEN]))
            audits.append(("welfare.post.end", x.p.post_no, {"end_on": None},
                           {"end_on": x.p.end_on, "reason": "roster import", "row": x.p.row}))
        new = [x for x in plans if x.existing is None]
        values = [dict(post_no=x.p.post_no, post_type=x.post_type, project_id=x.project_id,
                       household_id=x.household_id, holder_id_number=x.holder_id,
                       holder_name=x.p.holder_name.strip(), monthly_wage_fen=x.p.monthly_wage_fen,
                       start_on=x.p.start_on, end_on=x.p.end_on, end_reason=None if x.p.end_on is None else
                       f"离岗 roster import (row {x.p.row})"[:MAX_REASON_LEN], created_by=actor.user_id,
                       created_at=now) for x in new]
        if values:
            try:
                s.execute(POST.insert(), values)
            except IntegrityError:
                # Only a writer that went around this service (the lock serialises us) gets here.
                raise LedgerRefusal([Problem("file", "household_no", "", "another post was registered for one of "
                                             "these households a moment ago (one open post per household): "
                                             "import the roster again")]) from None
        for x in new:
            audits.append(("welfare.post.create", x.p.post_no, None, {
                "post_type": x.post_type, "project": x.p.project_code.strip(),
                "household_no": x.p.household_no.strip(), "holder_id_number": x.holder_id,
                "holder_name": x.p.holder_name.strip(), "monthly_wage": format_yuan(x.p.monthly_wage_fen),
                "start_on": x.p.start_on, "end_on": x.p.end_on, "row": x.p.row}))
        _audit_many(s, actor, audits, now)
        report.posts_created, report.posts_ended = len(new), len(endings)
        report.posts_unchanged = len(plans) - len(new) - len(endings)
    return report


def _is_new(item: tuple) -> bool:
    plan = item[4]
    return plan is not None and plan.existing is None


def _audit_many(s: Session, actor: Actor, rows: list[tuple[str, str, dict | None, dict | None]],
                at: dt.datetime) -> None:
    """Audit rows in one executemany, the same shape as audit.record (a roster is thousands of posts)."""
    def dump(value: dict | None) -> str | None:
        return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)

    if rows:
        s.execute(AUDIT.insert(), [{"at": at, "actor_id": actor.user_id, "action": action,
                                    "object_type": "welfare_post", "object_id": post_no, "before": dump(before),
                                    "after": dump(after)} for action, post_no, before, after in rows])


def _conflicts(x: _Plan, old) -> list[Problem]:
    """A registered post keeps what it was registered with: every column the sheet says otherwise."""
    p = x.p

    def show(v) -> str:
        return "" if v is None else (v.isoformat() if isinstance(v, dt.date) else str(v))

    pairs = [
        ("post_type", x.post_type, old.post_type, show),
        ("project_code", p.project_code.strip(), old.project_code, show),
        ("household_no", p.household_no.strip(), old.household_no, show),
        ("holder_id_number", x.holder_id, old.holder_id_number, show),
        ("holder_name", p.holder_name.strip(), old.holder_name, show),
        ("monthly_wage", p.monthly_wage_fen, int(old.monthly_wage_fen), lambda v: format_yuan(int(v))),
        ("start_on", p.start_on, old.start_on, show),
    ]
    return [Problem(_where(p), column, fmt(mine), f"post {p.post_no} is registered with {column} {fmt(theirs)!r}: "
                    "a post keeps its holder, wage and dates; end it and register a new post instead", row=p.row)
            for column, mine, theirs, fmt in pairs if mine != theirs]


def _holder_problems(p: PostIn, h, memberships: list) -> list[Problem]:
    """The holder is an active member of the household (a post already ended when it is registered
    may name a former member: the roster's history)."""
    mine = [m for m in memberships if int(m.household_id) == int(h.id)]
    active = [m for m in mine if m.is_active]
    usable = active or (mine if p.end_on is not None else [])
    if not usable:
        elsewhere = any(m.is_active for m in memberships)
        why = (f"not an active member of household {h.household_no}" +
               (" (the person is registered in another household)" if elsewhere else "") +
               ("; the person has left the household" if mine else ""))
        return [Problem(_where(p), "holder_id_number", p.holder_id_number, why, row=p.row)]
    if usable[0].name != p.holder_name.strip():
        return [Problem(_where(p), "holder_name", p.holder_name, f"the registry names this person {usable[0].name}",
                        row=p.row)]
    return []


def _wages_after_endings(s: Session, endings: list[tuple[PostIn, int | None, int | None, dt.date]]) -> list[Problem]:
    """A post cannot end before a month already in a roll: that month's wage would pay a post not held."""
    if not endings:
        return []
    later: dict[tuple[int, int], list] = defaultdict(list)
    for r in _in_chunks(s, lambda c: select(ROW.c.household_id, BATCH.c.project_id, ROW.c.period, ROW.c.ref)
                        .select_from(ROW.join(BATCH, BATCH.c.id == ROW.c.batch_id))
                        .where(ROW.c.household_id.in_(c), BATCH.c.purpose == "wage",
                               ROW.c.status.in_(LIVE_WAGE_STATUSES)),
                        {h for _, h, _, _ in endings if h is not None}):
        later[(int(r.household_id), int(r.project_id))].append(r)
    out = []
    for p, household_id, project_id, end_on in endings:
        month = end_on.strftime("%Y-%m")
        paid = sorted((r for r in later.get((household_id, project_id), ()) if (r.period or "") > month),
                      key=lambda r: r.period)
        if paid:
            out.append(Problem(_where(p), "end_on", end_on.isoformat(), f"the wage for {paid[-1].period} is already "
                               f"in a roll (ref {paid[-1].ref}): end the post on or after "
                               f"{paid[-1].period}-01, or have that roll rejected first", row=p.row))
    return out


def end_post(engine: Engine, actor: Actor, post_no: str, end_on: dt.date, reason: str) -> PostView:
    """离岗: the post ends on `end_on` (its last day). Once: an ended post stays ended."""
    require(actor, "welfare.manage")
    reason_text = _plain(reason, MAX_REASON_LEN)
    if reason_text is None:
        raise LedgerRefusal([Problem(f"post {post_no}", "reason", (reason or "")[:40],
                                     f"give a reason (1–{MAX_REASON_LEN} characters on one line)")])
    if not isinstance(end_on, dt.date):
        raise LedgerRefusal([Problem(f"post {post_no}", "end_on", str(end_on), "the end date is missing")])
    with unit_of_work(engine) as s:
        _lock(s)
        scope_id = _scope_township_id(s, actor)
        old = s.execute(select(POST, HOUSEHOLD.c.township_id).select_from(
            POST.join(HOUSEHOLD, HOUSEHOLD.c.id == POST.c.household_id)).where(POST.c.post_no == post_no)).first()
        if old is None or (scope_id is not None and old.township_id != scope_id):
            raise LedgerRefusal([Problem(f"post {post_no}", "post_no", post_no, "no such post")])
        where = f"post {post_no}"
        if old.end_on is not None:
            raise LedgerRefusal([Problem(where, "end_on", end_on.isoformat(), f"the post already ended on "
                                         f"{old.end_on.isoformat()} ({old.end_reason or ''})")])
        if end_on < old.start_on:
            raise LedgerRefusal([Problem(where, "end_on", end_on.isoformat(), f"before the post's start date "
                                         f"{old.start_on.isoformat()}")])
        stub = PostIn(post_no, old.post_type, "", "", old.holder_id_number, old.holder_name,
                      int(old.monthly_wage_fen), old.start_on, end_on)
        problems = _wages_after_endings(s, [(stub, int(old.household_id), int(old.project_id), end_on)])
        if problems:
            raise LedgerRefusal([dataclasses.replace(p, where=where) for p in problems])
        done = s.execute(update(POST).where(POST.c.id == old.id, POST.c.end_on.is_(None))
                         .values(end_on=end_on, end_reason=reason_text)).rowcount
        if done != 1:
            raise LedgerRefusal([Problem(where, "end_on", end_on.isoformat(), "the post was ended a moment ago")])
        audit.record(s, actor, "welfare.post.end", "welfare_post", post_no, before={"end_on": None},
                     after={"end_on": end_on, "reason": reason_text})
        view = s.execute(_post_query().where(POST.c.id == old.id)).one()
        return _post_view(actor, view, dt.date.today())


# ---------------------------------------------------------------------------------------------
# Reading


@dataclass(frozen=True, slots=True)
class PostView:
    post_no: str
    post_type: str
    project_code: str
    project_name: str
    household_no: str
    township: str
    village: str
    holder_id_number: str  # masked (公示 form) for roles that do not see full IDs
    holder_name: str
    monthly_wage_fen: int
    start_on: dt.date
    end_on: dt.date | None
    end_reason: str | None
    active: bool  # held on the list's day


@dataclass(frozen=True, slots=True)
class PostFilter:
    post_type: str | None = None
    township: str | None = None  # name or code
    project: str | None = None  # project code
    active: bool | None = None  # held on `as_of` (True), not held (False), either (None)
    q: str | None = None  # post number, household number or holder name contains
    as_of: dt.date | None = None  # default today


def _post_query():
    return select(POST, PROJECT.c.project_code, PROJECT.c.name.label("project_name"), HOUSEHOLD.c.household_no,
                  TOWNSHIP.c.name.label("township"), VILLAGE.c.name.label("village")).select_from(
        POST.join(PROJECT, PROJECT.c.id == POST.c.project_id)
        .join(HOUSEHOLD, HOUSEHOLD.c.id == POST.c.household_id)
        .join(TOWNSHIP, TOWNSHIP.c.id == HOUSEHOLD.c.township_id)
        .join(VILLAGE, VILLAGE.c.id == HOUSEHOLD.c.village_id))


def _post_view(actor: Actor, r, day: dt.date) -> PostView:
    return PostView(r.post_no, r.post_type, r.project_code, r.project_name, r.household_no, r.township, r.village,
                    _show_id(actor, r.holder_id_number), r.holder_name, int(r.monthly_wage_fen), r.start_on, r.end_on,
                    r.end_reason, held_in(r.start_on, r.end_on, day, day))


def _filter_where(s: Session, actor: Actor, f: PostFilter, day: dt.date):
    conds = []
    scope_id = _scope_township_id(s, actor)
    if scope_id is not None:
        conds.append(HOUSEHOLD.c.township_id == scope_id)
    if f.post_type:
        conds.append(POST.c.post_type == f.post_type)
    if f.township and f.township.strip():
        conds.append(or_(TOWNSHIP.c.name == f.township.strip(), TOWNSHIP.c.code == f.township.strip()))
    if f.project and f.project.strip():
        conds.append(PROJECT.c.project_code == f.project.strip())
    held = and_(POST.c.start_on <= day, or_(POST.c.end_on.is_(None), POST.c.end_on >= day))
    if f.active is True:
        conds.append(held)
    elif f.active is False:
        conds.append(~held)
    if f.q and f.q.strip():
        q = f.q.strip()
        conds.append(or_(POST.c.post_no.contains(q, autoescape=True), HOUSEHOLD.c.household_no.contains(
            q, autoescape=True), POST.c.holder_name.contains(q, autoescape=True)))
    return and_(True, *conds)


def list_posts(engine: Engine, actor: Actor, f: PostFilter = PostFilter(), page: int = 1,
               page_size: int = DEFAULT_PAGE_SIZE) -> Page:
    """The roster, by post number; paged and filtered. A scoped user sees its township's posts."""
    require(actor, "welfare.read")
    page, page_size = clamp_page(page, page_size)
    day = f.as_of or dt.date.today()
    with read_only(engine) as s:
        stmt = _post_query().where(_filter_where(s, actor, f, day))
        total = s.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
        rows = s.execute(stmt.order_by(POST.c.post_no).limit(page_size).offset((page - 1) * page_size)).all()
    return Page([_post_view(actor, r, day) for r in rows], int(total), page, page_size)


@dataclass(frozen=True, slots=True)
class TypeCount:
    post_type: str
    posts: int
    monthly_wage_fen: int  # what one month of these posts costs


def roster_summary(engine: Engine, actor: Actor, f: PostFilter = PostFilter()) -> list[TypeCount]:
    """Posts and monthly wages by type for the same filter as the list (every type, zeros included)."""
    require(actor, "welfare.read")
    day = f.as_of or dt.date.today()
    with read_only(engine) as s:
        base = _post_query().where(_filter_where(s, actor, f, day)).subquery()
        got = {r.post_type: (int(r.n), int(r.wages or 0)) for r in s.execute(
            select(base.c.post_type, func.count().label("n"), func.sum(base.c.monthly_wage_fen).label("wages"))
            .group_by(base.c.post_type))}
    return [TypeCount(t, *got.get(t, (0, 0))) for t in WELFARE_POST_TYPES]


def export_posts(engine: Engine, actor: Actor, f: PostFilter, fmt: str) -> tuple[str, bytes]:
    """The whole filtered roster (not one page) as XLSX or CSV, audited. Returns (file name, bytes)."""
    from ledger import exports
    from ledger.money import fen_to_yuan

    if fmt not in ("xlsx", "csv"):
        raise LedgerRefusal([Problem("export", "format", fmt, "format must be xlsx or csv")])
    require(actor, "welfare.read")
    day = f.as_of or dt.date.today()
    with read_only(engine) as s:
        items = [_post_view(actor, r, day) for r in s.execute(
            _post_query().where(_filter_where(s, actor, f, day)).order_by(POST.c.post_no).limit(MAX_EXPORT_ROWS))]
    headers = ["post_no 岗位编号", "post_type 岗位类型", "project_code 项目编号", "project 项目名称",
               "household_no 户编号", "township 乡镇", "village 行政村", "holder_id_number 身份证号",
               "holder_name 姓名", "monthly_wage 月工资", "start_on 上岗日期", "end_on 离岗日期",
               "end_reason 离岗原因", "active 在岗"]
    rows = [[p.post_no, POST_TYPE_NAMES_ZH[p.post_type], p.project_code, p.project_name, p.household_no, p.township,
             p.village, p.holder_id_number, p.holder_name, fen_to_yuan(p.monthly_wage_fen), p.start_on, p.end_on,
             p.end_reason or "", "在岗" if p.active else "不在岗"] for p in items]
    data = exports.to_xlsx(headers, rows, "posts") if fmt == "xlsx" else exports.to_csv(headers, rows)
    name = f"huimin-posts-{utcnow().strftime('%Y%m%d-%H%M%S')}.{fmt}"
    params = {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in dataclasses.asdict(f).items()
              if v is not None and v != ""}
    with unit_of_work(engine) as s:
        audit.record(s, actor, "export.posts", "export", name, after={
            "format": fmt, "rows": len(rows), "params": params, "full_ids": _full_ids(actor)})
    return name, data


# ---------------------------------------------------------------------------------------------
# The monthly wage roll


@dataclass(frozen=True, slots=True)
class WageRoll:
    """What `wage_roll` did. `batch_no` is None when nothing new was generated (a no-op)."""

    project_code: str
    period: str
    batch_no: str | None
    rows_created: int
    total_fen: int
    already_in_a_roll: int  # posts whose month is already in a roll (skipped)
    existing_batches: tuple[str, ...]  # the batches holding those rows
    paid_by_another_post: int  # households whose month goes to another post held first in the month
    payments: dict = field(default_factory=dict)  # payments.import_payments' summary

    def as_dict(self) -> dict:
        return {"project_code": self.project_code, "period": self.period, "batch_no": self.batch_no,
                "rows_created": self.rows_created, "total": format_yuan(self.total_fen),
                "already_in_a_roll": self.already_in_a_roll, "existing_batches": list(self.existing_batches),
                "paid_by_another_post": self.paid_by_another_post, "payments": self.payments}


def wage_roll(engine: Engine, actor: Actor, project_code: str, period: str, batch_no: str,
              paid_on: dt.date) -> WageRoll:
    """Generate one month's wage roll of a public-welfare-post project from the roster, as a draft
    payment batch (ledger.payments): full monthly wage for every post held in the month (no pro rata).
    Months already in a roll are skipped; when every post's month is, nothing is written."""
    from ledger import payments

    require(actor, "welfare.manage")
    require(actor, "payment.prepare")
    where = f"wage roll {project_code} {period}"
    problems: list[Problem] = []
    bounds = month_bounds(period)
    if bounds is None:
        problems.append(Problem(where, "period", str(period)[:20], "the month is written YYYY-MM, e.g. 2026-04"))
    if not isinstance(batch_no, str) or not BATCH_NO_RE.match(batch_no):
        problems.append(Problem(where, "batch_no", str(batch_no)[:64], "a batch number is 1–64 characters "
                                                                       "without spaces"))
    if not isinstance(paid_on, dt.date):
        problems.append(Problem(where, "paid_on", str(paid_on), "the pay date is missing"))
    elif bounds is not None and paid_on < bounds[0]:
        problems.append(Problem(where, "paid_on", paid_on.isoformat(), f"a wage is paid in or after the month it "
                                                                       f"pays ({period})"))
    if problems:
        raise LedgerRefusal(problems)
    assert bounds is not None
    first, last = bounds
    with read_only(engine) as s:
        project = s.execute(select(PROJECT.c.id, PROJECT.c.project_code, PROJECT.c.industry, PROJECT.c.township)
                            .where(PROJECT.c.project_code == project_code)).first()
        scope = _scope(actor)
        if project is None or (scope is not None and project.township not in (None, scope)):
            raise LedgerRefusal([Problem(where, "project_code", project_code, "no such project")])
        if project.industry != WELFARE_INDUSTRY:
            raise LedgerRefusal([Problem(where, "project_code", project_code, f"a {project.industry} project: wages "
                                         f"are paid from a public-welfare-post project ({WELFARE_INDUSTRY})")])
        scope_id = _scope_township_id(s, actor)
        held = s.execute(
            select(POST, HOUSEHOLD.c.household_no, HOUSEHOLD.c.bank_account)
            .select_from(POST.join(HOUSEHOLD, HOUSEHOLD.c.id == POST.c.household_id))
            .where(POST.c.project_id == project.id, POST.c.start_on <= last,
                   or_(POST.c.end_on.is_(None), POST.c.end_on >= first),
                   True if scope_id is None else HOUSEHOLD.c.township_id == scope_id)
            .order_by(POST.c.post_no)).all()
        household_ids = [int(r.household_id) for r in held]
        # Every post of these households, whatever its project: the month goes to the post held first.
        posts_of: dict[int, list] = defaultdict(list)
        for r in _in_chunks(s, lambda c: select(POST.c.id, POST.c.household_id, POST.c.post_type, POST.c.project_id,
                                                POST.c.monthly_wage_fen, POST.c.start_on, POST.c.end_on)
                            .where(POST.c.household_id.in_(c)), household_ids):
            posts_of[int(r.household_id)].append(r)
        earlier: dict[int, list] = defaultdict(list)  # household -> its wage rows of this project and month
        for r in _in_chunks(s, lambda c: select(ROW.c.household_id, ROW.c.ref, ROW.c.status, BATCH.c.batch_no)
                            .select_from(ROW.join(BATCH, BATCH.c.id == ROW.c.batch_id))
                            .where(ROW.c.household_id.in_(c), BATCH.c.project_id == project.id,
                                   BATCH.c.purpose == "wage", ROW.c.period == period), household_ids):
            earlier[int(r.household_id)].append(r)
    if not held:
        raise LedgerRefusal([Problem(where, "period", period, f"no post of project {project_code} is held in "
                                                              f"{period}" + (f" in {scope}" if scope else ""))])
    rows: list[payments.PaymentIn] = []
    skipped_other = 0
    already: list = []
    for r in held:
        mine = posts_of[int(r.household_id)]
        mine.sort(key=lambda x: (x.start_on, x.id))
        facts = [payments.PostFacts(x.post_type, int(x.project_id), int(x.monthly_wage_fen), x.start_on, x.end_on)
                 for x in mine]
        chosen = payments.post_for(facts, period, paid_on)
        if chosen is None or mine[next(i for i, x in enumerate(facts) if x is chosen)].id != r.id:
            skipped_other += 1
            continue
        before = earlier.get(int(r.household_id), [])
        live = [e for e in before if e.status in IN_A_ROLL]
        if live:
            already.extend(live)
            continue
        taken = {e.ref for e in before}
        attempt = 1
        while wage_ref(r.post_no, period, attempt) in taken:
            attempt += 1
        rows.append(payments.PaymentIn(
            wage_ref(r.post_no, period, attempt), batch_no, project_code, r.household_no, r.holder_id_number,
            r.holder_name, r.bank_account, int(r.monthly_wage_fen), paid_on, "wage", period))
    existing_batches = tuple(sorted({e.batch_no for e in already}))
    if not rows:
        return WageRoll(project_code, period, None, 0, 0, len(already), existing_batches, skipped_other)
    total = sum(r.amount_fen for r in rows)
    summary = payments.import_payments(
        engine, actor, rows, declared_count=len(rows), declared_total_fen=total,
        memo=f"公益性岗位工资 {period}：由岗位花名册生成 wage roll generated from the roster")
    return WageRoll(project_code, period, batch_no, int(summary["rows_created"]), total, len(already),
                    existing_batches, skipped_other, summary)
