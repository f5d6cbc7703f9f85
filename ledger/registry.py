"""The registry (DESIGN.md §5, §8): townships and villages, households and their members, each
household's effective-dated status history, officials and the reference lists.

Use cases follow ledger.services: the permission check first, then one unit of work (one
transaction) that validates, writes and audits. Validation collects every problem as a
`Problem` (with the officer's row number when the caller passes one) and raises `LedgerRefusal`
with all of them, having written nothing. Bulk calls look rows up in chunks (IN lists of
`bulk.LOOKUP_CHUNK`) and write with executemany, never a round trip per row; re-running the same
rows changes nothing and writes no audit rows.

Township scope (DESIGN §1): an actor whose `township` is set (a township's name or code) sees and
changes only that township's households; a township that is not in the registry scopes it to
nothing. Another township's household reads as "no such household".

Nothing here deletes. A person leaves a household by becoming inactive (moved out, died); the
membership row is then frozen by the database, and the person may be registered again elsewhere.
Status changes are history rows; `household.status` is the status of the latest one (by
`effective_on`, then id), written in the same transaction, and the database refuses an update of
it that disagrees with the history.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine, and_, bindparam, case, func, select, text
from sqlalchemy.orm import Session

from ledger import audit, bulk
from ledger.db import read_only, unit_of_work
from ledger.entries import Problem
from ledger.ids import bank_account_problem, normalise_account, normalise_id, parse_resident_id
from ledger.journal import LedgerRefusal
from ledger.models import (
    HOUSEHOLD_STATUSES,
    LEFT_REASONS,
    PERSON_RELATIONS,
    REFERENCE_KINDS,
    TOWNSHIP_KINDS,
    AppUser,
    AuditLog,
    Household,
    HouseholdStatus,
    Official,
    Person,
    Project,
    ReferenceEntry,
    Township,
    Village,
    utcnow,
)
from ledger.permissions import Actor, PermissionDenied, allowed, require
from ledger.queries import DEFAULT_PAGE_SIZE, Page, clamp_page

TOWNSHIP = Township.__table__
VILLAGE = Village.__table__
HOUSEHOLD = Household.__table__
PERSON = Person.__table__
STATUS = HouseholdStatus.__table__
OFFICIAL = Official.__table__
REFERENCE = ReferenceEntry.__table__
USER = AppUser.__table__
PROJECT = Project.__table__
AUDIT = AuditLog.__table__

# Rows per call (households and persons together). The reference county has 123,717 people in one
# persons file, and a file lands whole or not at all (§8), so the limit sits above a county's file.
MAX_BATCH = 200_000
MAX_NAME_LEN = 64
MAX_REASON_LEN = 500
MAX_NOTE_LEN = 200
MAX_SIZE = 99
IMPORT_REASON = "户籍导入 registry import"
# Registry writes queue on this transaction-level advisory lock on PostgreSQL (SQLite's BEGIN
# IMMEDIATE already serialises writers), so that validation and writing see the same registry.
_PG_LOCK_KEY = 0x4875696D696E_01
# After a write this large, PostgreSQL's statistics are refreshed in the same transaction: until
# autovacuum gets round to it, a table that grew from nothing looks empty to the planner, and the
# next import's chunked IN lookups would each scan the whole table (minutes for a county).
ANALYZE_AFTER_ROWS = 10_000

STATUS_LABELS = {"poor": "未脱贫户", "exited": "脱贫户", "edge": "边缘易致贫户", "monitored": "监测户",
                 "general": "一般农户", "closed": "注销"}
# An import names a household's type; closing a household (注销) is a status change of its own.
IMPORT_STATUSES = ("poor", "exited", "edge", "monitored", "general")
RELATION_LABELS = {"head": "户主", "spouse": "配偶", "child": "子女", "parent": "父母", "other": "其他"}
LEFT_REASON_LABELS = {"moved": "迁出", "died": "死亡", "other": "其他"}
REFERENCE_LABELS = {"death": "死亡", "public_employee": "财政供养", "vehicle": "车辆", "business": "工商"}
TOWNSHIP_KIND_LABELS = {"xiang": "乡", "zhen": "镇"}
assert tuple(STATUS_LABELS) == HOUSEHOLD_STATUSES and tuple(RELATION_LABELS) == PERSON_RELATIONS
assert tuple(LEFT_REASON_LABELS) == LEFT_REASONS and tuple(REFERENCE_LABELS) == REFERENCE_KINDS
assert tuple(TOWNSHIP_KIND_LABELS) == TOWNSHIP_KINDS

_HOUSEHOLD_NO_RE = re.compile(r"[0-9A-Za-z][0-9A-Za-z-]{0,31}\Z")
_CODE_RE = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{0,31}\Z")
_PHONE_RE = re.compile(r"\+?[0-9][0-9-]{4,19}\Z")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


# ---------------------------------------------------------------------------------------------
# Inputs and reports


@dataclass(frozen=True, slots=True)
class HouseholdIn:
    """One row of the households template (§8). Values as read from a sheet (text, or int for
    numbers); `row` is the spreadsheet row the officer sees, when there is one."""

    household_no: str
    township: str  # name or code
    village: str
    head_name: str
    head_id_number: str
    size: int | str
    status: str  # key or Chinese label
    bank_account: str | None = None
    phone: str | None = None
    row: int | None = None


@dataclass(frozen=True, slots=True)
class PersonIn:
    """One row of the persons template: every member, the head too."""

    household_no: str
    name: str
    id_number: str
    relation: str  # key or Chinese label
    row: int | None = None


@dataclass(frozen=True, slots=True)
class TownshipIn:
    code: str
    name: str
    kind: str | None = None  # xiang/乡 or zhen/镇; taken from the name's last character when absent
    row: int | None = None


@dataclass(frozen=True, slots=True)
class OfficialIn:
    id_number: str
    name: str
    position: str
    township: str  # name or code
    village: str | None = None  # blank: a township official
    active_from: dt.date | str | None = None
    active_to: dt.date | str | None = None
    row: int | None = None


@dataclass(frozen=True, slots=True)
class ReferenceIn:
    id_number: str
    name: str
    kind: str  # key or Chinese label
    on_date: dt.date | str
    row: int | None = None


@dataclass
class UpsertReport:
    households_created: int = 0
    households_updated: int = 0
    households_unchanged: int = 0
    persons_created: int = 0
    persons_updated: int = 0
    persons_unchanged: int = 0
    villages_created: int = 0
    status_changes: int = 0
    warnings: list[Problem] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.households_created or self.households_updated or self.persons_created
                    or self.persons_updated or self.villages_created or self.status_changes)

    def as_dict(self) -> dict:
        out = {k: getattr(self, k) for k in ("households_created", "households_updated", "households_unchanged",
                                              "persons_created", "persons_updated", "persons_unchanged",
                                              "villages_created", "status_changes")}
        out["warnings"] = [w.as_dict() for w in self.warnings]
        return out


@dataclass
class BulkReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def as_dict(self) -> dict:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


# ---------------------------------------------------------------------------------------------
# Pure rules


def status_on(history: Iterable[tuple[dt.date, int, str]], day: dt.date) -> str | None:
    """The status in force on `day`: the latest (effective_on, id) row on or before it; None
    when the household had no status yet."""
    best: tuple[dt.date, int] | None = None
    status = None
    for effective_on, row_id, st in history:
        if effective_on <= day and (best is None or (effective_on, row_id) > best):
            best, status = (effective_on, row_id), st
    return status


def key_of(value: object, labels: dict[str, str]) -> str | None:
    """The key for an English key (any case) or its Chinese label; None if neither."""
    if not isinstance(value, str):
        return None
    v = value.strip()
    if v.lower() in labels:
        return v.lower()
    for k, label in labels.items():
        if v == label:
            return k
    return None


def _choices(labels: dict[str, str], keys: Sequence[str] | None = None) -> str:
    return ", ".join(f"{k} {labels[k]}" for k in (keys or labels))


def _text(value: object, what: str, max_len: int = MAX_NAME_LEN, required: bool = True) -> tuple[str | None, str]:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, (f"{what} is missing" if required else "")
    if not isinstance(value, str):
        return None, f"{what} must be text"
    v = value.strip()
    if len(v) > max_len:
        return None, f"{what} is longer than {max_len} characters"
    if _CONTROL_RE.search(v):
        return None, f"{what} contains control characters"
    return v, ""


def _household_no(value: object) -> tuple[str | None, str]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    v, msg = _text(value, "household number", 32)
    if v is None:
        return None, msg
    if not _HOUSEHOLD_NO_RE.match(v):
        return None, "a household number is 1–32 letters, digits or '-'"
    return v, ""


def _resident_id(value: object, today: dt.date) -> tuple[str | None, str]:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, "ID number is missing"
    rid, msg = parse_resident_id(value if isinstance(value, str) else str(value), today)
    return (rid.number, "") if rid is not None else (None, msg or "not a valid ID number")


def _date(value: object, what: str, today: dt.date, required: bool = True) -> tuple[dt.date | None, str]:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, (f"{what} is missing" if required else "")
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, str):
        v = value.strip()
        if not _DATE_RE.match(v):
            return None, f"{what} must be a date YYYY-MM-DD"
        try:
            value = dt.date.fromisoformat(v)
        except ValueError:
            return None, f"{what} is not a real date"
    if not isinstance(value, dt.date):
        return None, f"{what} must be a date YYYY-MM-DD"
    if value > today:
        return None, f"{what} is in the future"
    return value, ""


def _size(value: object) -> tuple[int | None, str]:
    n: int | None = None
    if isinstance(value, bool):
        n = None
    elif isinstance(value, int):
        n = value
    elif isinstance(value, float) and value.is_integer():
        n = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        n = int(value.strip())
    if n is None:
        return None, "household size must be a whole number"
    if not 1 <= n <= MAX_SIZE:
        return None, f"household size must be 1–{MAX_SIZE}"
    return n, ""


def _bank_account(value: object) -> tuple[str | None, str, str]:
    """(number, error, warning)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, "bank account (一卡通账号) is missing", ""
    if not isinstance(value, str):
        return None, "bank account must be text", ""
    error, warning = bank_account_problem(value)
    if error:
        return None, error, ""
    return normalise_account(value), "", warning or ""


def _phone(value: object) -> tuple[str | None, str]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    v, msg = _text(value, "phone", 20, required=False)
    if v is None:
        return None, msg
    v = re.sub(r"\s+", "", v)
    if not _PHONE_RE.match(v):
        return None, "a phone number is 5–20 digits (with '-' or a leading '+')"
    return v, ""


def _today() -> dt.date:
    # The office's calendar day (the server runs in the county's time zone), not UTC's.
    return dt.date.today()


# ---------------------------------------------------------------------------------------------
# Helpers


class _Problems:
    """Problems in input order (list, then item), whatever order they were found in."""

    def __init__(self) -> None:
        self._items: list[tuple[tuple[int, int], Problem]] = []

    def add(self, at: _At, field_: str, value: object, message: str) -> None:
        self._items.append((at.order, Problem(at.where, field_, "" if value is None else str(value), message,
                                              row=at.row)))

    def __bool__(self) -> bool:
        return bool(self._items)

    def refusal(self) -> LedgerRefusal:
        return LedgerRefusal([p for _, p in sorted(self._items, key=lambda item: item[0])])


@dataclass(frozen=True, slots=True)
class _At:
    where: str
    row: int | None
    order: tuple[int, int]


def _at(list_name: str, list_order: int, index: int, row: int | None) -> _At:
    where = f"{list_name} row {row}" if row is not None else f"{list_name} #{index}"
    return _At(where, row, (list_order, index))


def _check_batch(n: int) -> None:
    if n > MAX_BATCH:
        raise LedgerRefusal([Problem("batch", "rows", str(n), f"more than {MAX_BATCH} rows in one call; "
                                     "split the file")])


def _lock(s: Session) -> None:
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})


def _rows_in(s: Session, columns: Sequence, key_column, values: Iterable, *where) -> list:
    """SELECT columns WHERE key_column IN values (chunked) AND where."""
    out: list = []
    for chunk in bulk.chunks(sorted(set(values))):
        out.extend(s.execute(select(*columns).where(key_column.in_(chunk), *where)).all())
    return out


def _json(value: dict | None) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _audit_many(s: Session, actor: Actor, rows: list[tuple[str, str, str | None, dict | None, dict | None]]) -> None:
    """Audit rows (action, object_type, object_id, before, after) in one executemany; the same row
    shape as audit.record."""
    if not rows:
        return
    at = utcnow()
    bulk.insert_dicts(s.connection(), AUDIT, [
        {"at": at, "actor_id": actor.user_id, "action": action, "object_type": object_type, "object_id": object_id,
         "before": _json(before), "after": _json(after)}
        for action, object_type, object_id, before, after in rows])


@dataclass(frozen=True, slots=True)
class _Town:
    id: int
    code: str
    name: str
    kind: str


def _townships(s: Session) -> dict[str, _Town]:
    """Every township by name and by code (a few dozen rows)."""
    out: dict[str, _Town] = {}
    rows = [_Town(r.id, r.code, r.name, r.kind) for r in s.execute(select(TOWNSHIP).order_by(TOWNSHIP.c.id))]
    for t in rows:
        out.setdefault(t.code, t)
    for t in rows:
        out[t.name] = t  # a name wins over another township's code
    return out


def _scope_id(s: Session, actor: Actor) -> int | None:
    """None: county-wide. Otherwise the id of the actor's township (-1 if it is not registered)."""
    if actor.township is None:
        return None
    t = _townships(s).get(actor.township.strip())
    return t.id if t is not None else -1


def _visible(scope: int | None, township_id: int) -> bool:
    return scope is None or scope == township_id


# ---------------------------------------------------------------------------------------------
# Townships and villages


def upsert_townships(engine: Engine, actor: Actor, rows: Sequence[TownshipIn]) -> BulkReport:
    """Add townships or rename them (by code). County-wide reference data: not for scoped users."""
    require(actor, "registry.import")
    if actor.township is not None:
        raise PermissionDenied(actor, "registry.import (the county's township list)")
    rows = list(rows)
    _check_batch(len(rows))
    problems = _Problems()
    wanted: dict[str, tuple[str, str, _At]] = {}
    names: dict[str, _At] = {}
    for i, r in enumerate(rows, 1):
        at = _at("townships", 0, i, r.row)
        code, m1 = _text(r.code, "township code", 32)
        if code is not None and not _CODE_RE.match(code):
            code, m1 = None, "a township code is 1–32 letters, digits, '-' or '_'"
        name, m2 = _text(r.name, "township name")
        kind = key_of(r.kind, TOWNSHIP_KIND_LABELS) if r.kind not in (None, "") else None
        m3 = ""
        if r.kind not in (None, "") and kind is None:
            m3 = "kind must be " + _choices(TOWNSHIP_KIND_LABELS)
        elif kind is None and name is not None:
            kind = {"乡": "xiang", "镇": "zhen"}.get(name[-1])
            if kind is None:
                m3 = "kind is missing and the name does not end in 乡 or 镇"
        for f, v, m in (("code", r.code, m1), ("name", r.name, m2), ("kind", r.kind, m3)):
            if m:
                problems.add(at, f, v, m)
        if code is None or name is None or kind is None:
            continue
        if code in wanted:
            problems.add(at, "code", code, f"township code appears again (first at {wanted[code][2].where})")
            continue
        if name in names:
            problems.add(at, "name", name, f"township name appears again (first at {names[name].where})")
            continue
        wanted[code], names[name] = (name, kind, at), at
    report = BulkReport()
    with unit_of_work(engine) as s:
        _lock(s)
        existing = {r.code: r for r in s.execute(select(TOWNSHIP))}
        by_name = {r.name: r.code for r in existing.values()}
        # After this batch: every township's name by code. A user's or project's township is given by code
        # or name, so a name that is another township's code (or the reverse) would make one spelling
        # mean two townships.
        name_of = {c: r.name for c, r in existing.items()} | {c: w[0] for c, w in wanted.items()}
        code_of_name = {n: c for c, n in name_of.items()}
        creates, updates, audits = [], [], []
        for code, (name, kind, at) in wanted.items():
            if by_name.get(name, code) != code and by_name[name] not in wanted:
                problems.add(at, "name", name, f"another township (code {by_name[name]}) has this name")
                continue
            if name != code and name in name_of:
                problems.add(at, "name", name, f"this name is the code of another township ({name_of[name]})")
                continue
            if code_of_name.get(code, code) != code:
                problems.add(at, "code", code, f"this code is the name of another township (code "
                                               f"{code_of_name[code]})")
                continue
            old = existing.get(code)
            after = {"code": code, "name": name, "kind": kind}
            if old is None:
                creates.append({"code": code, "name": name, "kind": kind, "created_at": utcnow()})
                audits.append(("registry.township.create", "township", code, None, after))
            elif (old.name, old.kind) != (name, kind):
                updates.append({"b_id": old.id, "b_name": name, "b_kind": kind, "b_old": old.name})
                audits.append(("registry.township.update", "township", code,
                               {"code": code, "name": old.name, "kind": old.kind}, after))
            else:
                report.unchanged += 1
        if problems:
            raise problems.refusal()
        if updates:
            # Two townships swapping names would collide halfway; park the names first.
            s.execute(TOWNSHIP.update().where(TOWNSHIP.c.id == bindparam("b_id"))
                      .values(name=bindparam("b_park")), [u | {"b_park": f"~{u['b_id']}"} for u in updates])
            s.execute(TOWNSHIP.update().where(TOWNSHIP.c.id == bindparam("b_id"))
                      .values(name=bindparam("b_name"), kind=bindparam("b_kind")), updates)
            # Projects and users keep their township by name (one spelling, see projects.py): a rename
            # carries them along, parked first so that a swap does not merge two townships. The parking
            # value starts with a tab: stored townships are stripped, so none can be mistaken for it.
            renamed = [{"b_old": u["b_old"], "b_park": f"\t~{u['b_id']}", "b_new": u["b_name"]}
                       for u in updates if u["b_old"] != u["b_name"]]
            for table in (PROJECT, USER) if renamed else ():
                s.execute(table.update().where(table.c.township == bindparam("b_old"))
                          .values(township=bindparam("b_park")), renamed)
                s.execute(table.update().where(table.c.township == bindparam("b_park"))
                          .values(township=bindparam("b_new")), renamed)
        bulk.insert_dicts(s.connection(), TOWNSHIP, creates)
        _audit_many(s, actor, audits)
        report.created, report.updated = len(creates), len(updates)
    return report


@dataclass(frozen=True, slots=True)
class TownshipView:
    code: str
    name: str
    kind: str
    villages: int
    households: int


@dataclass(frozen=True, slots=True)
class VillageView:
    name: str
    households: int


def list_townships(engine: Engine, actor: Actor) -> list[TownshipView]:
    """The townships the actor may see, with counts. An admin may list them too (to scope users)."""
    if not allowed(actor, "users.manage"):
        require(actor, "registry.read")
    with read_only(engine) as s:
        scope = _scope_id(s, actor)
        villages = select(func.count()).where(VILLAGE.c.township_id == TOWNSHIP.c.id).scalar_subquery()
        households = select(func.count()).where(HOUSEHOLD.c.township_id == TOWNSHIP.c.id).scalar_subquery()
        stmt = select(TOWNSHIP.c.code, TOWNSHIP.c.name, TOWNSHIP.c.kind, villages.label("v"),
                      households.label("h")).order_by(TOWNSHIP.c.code)
        if scope is not None:
            stmt = stmt.where(TOWNSHIP.c.id == scope)
        return [TownshipView(r.code, r.name, r.kind, int(r.v), int(r.h)) for r in s.execute(stmt)]


def list_villages(engine: Engine, actor: Actor, township: str) -> list[VillageView]:
    require(actor, "registry.read")
    with read_only(engine) as s:
        t = _townships(s).get((township or "").strip())
        if t is None or not _visible(_scope_id(s, actor), t.id):
            raise LedgerRefusal([Problem("township", "township", township, "no such township")])
        households = select(func.count()).where(HOUSEHOLD.c.village_id == VILLAGE.c.id).scalar_subquery()
        rows = s.execute(select(VILLAGE.c.name, households.label("h")).where(VILLAGE.c.township_id == t.id)
                         .order_by(VILLAGE.c.name))
        return [VillageView(r.name, int(r.h)) for r in rows]


# ---------------------------------------------------------------------------------------------
# Households and persons


@dataclass
class _H:
    at: _At
    no: str
    township: _Town
    village: str
    head_name: str
    head_id: str
    size: int
    status: str
    bank_account: str
    phone: str | None
    village_id: int | None = None


@dataclass
class _P:
    at: _At
    household_no: str
    name: str
    id_number: str
    relation: str
    synthetic: bool = False  # the head of a new household whose persons are not in this batch

    @property
    def id_field(self) -> str:
        return "head_id_number" if self.synthetic else "id_number"


_HOUSEHOLD_COLUMNS = (HOUSEHOLD.c.id, HOUSEHOLD.c.household_no, HOUSEHOLD.c.township_id, HOUSEHOLD.c.village_id,
                      HOUSEHOLD.c.head_id_number, HOUSEHOLD.c.size, HOUSEHOLD.c.status, HOUSEHOLD.c.bank_account,
                      HOUSEHOLD.c.phone)
_PERSON_COLUMNS = (PERSON.c.id, PERSON.c.household_id, PERSON.c.name, PERSON.c.id_number, PERSON.c.relation)


def upsert_households(engine: Engine, actor: Actor, households: Sequence[HouseholdIn] = (),
                      persons: Sequence[PersonIn] = (), *, create_villages: bool = False,
                      effective_on: dt.date | None = None, reason: str = IMPORT_REASON) -> UpsertReport:
    """Register or update households and their members by natural key (household_no, id_number).

    All or nothing: every problem in every row is returned at once (LedgerRefusal) and nothing is
    written. A new household's head is registered from its row (head_name, head_id_number) unless
    the batch lists the household's persons, which must then include the head. A changed status of
    an existing household is recorded as a history row effective on `effective_on` (default
    today) with `reason`. Villages unknown to their township are refused unless `create_villages`.
    After the batch, every household it touches has its head as an active member with relation
    head (户主), and no other member with that relation.
    """
    require(actor, "registry.import")
    households, persons = list(households), list(persons)
    _check_batch(len(households) + len(persons))
    today = _today()
    report = UpsertReport()
    with unit_of_work(engine) as s:
        _lock(s)
        plan = _plan_households(s, actor, households, persons, create_villages, effective_on, reason, today, report)
        _apply_households(s, actor, plan, report)
    return report


def upsert_persons(engine: Engine, actor: Actor, persons: Sequence[PersonIn]) -> UpsertReport:
    """The persons template alone: members of households already registered."""
    return upsert_households(engine, actor, (), persons)


@dataclass
class _Plan:
    on: dt.date
    reason: str
    new_villages: set[tuple[int, str]] = field(default_factory=set)
    new_households: list[_H] = field(default_factory=list)
    changed_households: list[tuple[_H, object]] = field(default_factory=list)  # (row, existing row)
    new_persons: list[_P] = field(default_factory=list)
    changed_persons: list[tuple[_P, object]] = field(default_factory=list)
    townships_by_id: dict[int, _Town] = field(default_factory=dict)
    household_nos_by_id: dict[int, str] = field(default_factory=dict)


def _plan_households(s: Session, actor: Actor, households: list[HouseholdIn], persons: list[PersonIn],
                     create_villages: bool, effective_on: dt.date | None, reason: str, today: dt.date,
                     report: UpsertReport) -> _Plan:
    problems = _Problems()
    batch_at = _At("batch", None, (-1, 0))
    on, msg = _date(effective_on if effective_on is not None else today, "effective date", today)
    if msg:
        problems.add(batch_at, "effective_on", effective_on, msg)
    why, msg = _text(reason, "reason", MAX_REASON_LEN)
    if msg:
        problems.add(batch_at, "reason", reason, msg)
    plan = _Plan(on=on or today, reason=why or "")
    towns = _townships(s)
    parsed_ids: dict[object, tuple[str | None, str]] = {}  # a head's ID comes twice: row and persons row

    def resident_id(value: object) -> tuple[str | None, str]:
        key = value if isinstance(value, str) else repr(value)
        hit = parsed_ids.get(key)
        if hit is None:
            hit = parsed_ids[key] = _resident_id(value, today)
        return hit

    plan.townships_by_id = {t.id: t for t in towns.values()}
    scope = _scope_id(s, actor)

    # 1. Every field of every row.
    hh: dict[str, _H] = {}
    listed: dict[str, _At] = {}  # every household number a household row names, good row or not
    for i, r in enumerate(households, 1):
        at = _at("households", 0, i, r.row)
        no, m_no = _household_no(r.household_no)
        tkey, m_t = _text(r.township, "township")
        village, m_v = _text(r.village, "village")
        head_name, m_hn = _text(r.head_name, "head's name")
        head_id, m_hi = resident_id(r.head_id_number)
        size, m_sz = _size(r.size)
        status = key_of(r.status, STATUS_LABELS)
        m_st = "" if status in IMPORT_STATUSES else "status must be one of " + _choices(STATUS_LABELS, IMPORT_STATUSES)
        bank, m_b, w_b = _bank_account(r.bank_account)
        phone, m_ph = _phone(r.phone)
        town = towns.get(tkey) if tkey is not None else None
        if tkey is not None and town is None:
            m_t = "no such township"
        elif town is not None and not _visible(scope, town.id):
            m_t = f"outside your township ({actor.township})"
        found = [(f, v, m) for f, v, m in (
            ("household_no", r.household_no, m_no), ("township", r.township, m_t), ("village", r.village, m_v),
            ("head_name", r.head_name, m_hn), ("head_id_number", r.head_id_number, m_hi), ("size", r.size, m_sz),
            ("status", r.status, m_st), ("bank_account", r.bank_account, m_b), ("phone", r.phone, m_ph)) if m]
        for f, v, m in found:
            problems.add(at, f, v, m)
        if w_b:
            report.warnings.append(Problem(at.where, "bank_account", str(r.bank_account), w_b, row=at.row))
        if no is not None:
            if no in listed:
                problems.add(at, "household_no", no, f"household number appears again (first at {listed[no].where})")
                hh.pop(no, None)
                continue
            listed[no] = at
        if found:
            continue
        assert no and town and village and head_name and head_id and size and status and bank
        hh[no] = _H(at, no, town, village, head_name, head_id, size, status, bank, phone)

    pp: list[_P] = []
    persons_listed: set[str] = set()  # households with any person row, good or not
    bad_person_households: set[str] = set()
    for i, r in enumerate(persons, 1):
        at = _at("persons", 1, i, r.row)
        no, m_no = _household_no(r.household_no)
        name, m_n = _text(r.name, "name")
        pid, m_id = resident_id(r.id_number)
        relation = key_of(r.relation, RELATION_LABELS)
        m_rel = "" if relation else "relation must be one of " + _choices(RELATION_LABELS)
        found = [(f, v, m) for f, v, m in (("household_no", r.household_no, m_no), ("name", r.name, m_n),
                                           ("id_number", r.id_number, m_id), ("relation", r.relation, m_rel)) if m]
        for f, v, m in found:
            problems.add(at, f, v, m)
        if no is not None:
            persons_listed.add(no)
            if found:
                bad_person_households.add(no)
        if not found:
            assert no and name and pid and relation
            pp.append(_P(at, no, name, pid, relation))

    # 2. Places: villages of the households' townships.
    town_ids = {h.township.id for h in hh.values()}
    villages = {(r.township_id, r.name): r.id for r in _rows_in(
        s, (VILLAGE.c.id, VILLAGE.c.township_id, VILLAGE.c.name), VILLAGE.c.township_id, town_ids)}
    for h in list(hh.values()):
        vid = villages.get((h.township.id, h.village))
        if vid is not None:
            h.village_id = vid
        elif create_villages:
            plan.new_villages.add((h.township.id, h.village))
        else:
            problems.add(h.at, "village", h.village, f"no such village in {h.township.name} (villages are added "
                                                      "only when the import is asked to create them)")
            del hh[h.no]
            bad_person_households.add(h.no)

    # 3. Households already registered.
    existing = {r.household_no: r for r in _rows_in(s, _HOUSEHOLD_COLUMNS, HOUSEHOLD.c.household_no,
                                                     set(listed) | {p.household_no for p in pp})}
    plan.household_nos_by_id = {r.id: no for no, r in existing.items()}
    for no, h in list(hh.items()):
        old = existing.get(no)
        if old is None:
            continue
        if not _visible(scope, old.township_id):
            problems.add(h.at, "household_no", no, "this household is registered in another township")
        elif old.status == "closed":
            problems.add(h.at, "household_no", no, "this household is closed (注销); reopen it with a status "
                                                   "change first")
        else:
            continue
        del hh[no]
        bad_person_households.add(no)
    for no in listed:
        if no not in hh:
            bad_person_households.add(no)
    good_pp: list[_P] = []
    for p in pp:
        old = existing.get(p.household_no)
        if p.household_no in hh:
            good_pp.append(p)
        elif p.household_no in listed:
            continue  # its household row is refused already; say it once
        elif old is None:
            problems.add(p.at, "household_no", p.household_no, "no such household (not registered and not in "
                                                               "this import)")
            bad_person_households.add(p.household_no)
        elif not _visible(scope, old.township_id):
            problems.add(p.at, "household_no", p.household_no, "this household is registered in another township")
            bad_person_households.add(p.household_no)
        else:
            good_pp.append(p)

    # 4. A new household without person rows: its head comes from its row.
    for h in hh.values():
        if h.no not in existing and h.no not in persons_listed:
            good_pp.append(_P(h.at, h.no, h.head_name, h.head_id, "head", synthetic=True))

    # 5. One ID, one membership: within the batch, then against the registry.
    first: dict[str, _P] = {}
    unique_pp: list[_P] = []
    for p in good_pp:
        q = first.get(p.id_number)
        if q is None:
            first[p.id_number] = p
            unique_pp.append(p)
        elif q.household_no == p.household_no:
            problems.add(p.at, p.id_field, p.id_number, f"this person is listed twice (first at {q.at.where})")
            bad_person_households.add(p.household_no)
        else:
            problems.add(p.at, p.id_field, p.id_number, f"the same ID is listed in two households: {q.household_no} "
                                                        f"({q.at.where}) and {p.household_no}")
            bad_person_households.add(p.household_no)
    ids = list(first)
    active, deceased = {}, {}
    for r in _rows_in(s, (*_PERSON_COLUMNS, PERSON.c.is_active, PERSON.c.left_reason, PERSON.c.death_date),
                      PERSON.c.id_number, ids):
        if r.is_active:
            active[r.id_number] = r
        elif r.left_reason == "died":
            deceased[r.id_number] = r.death_date
    elsewhere = {r.id: r for r in _rows_in(s, (HOUSEHOLD.c.id, HOUSEHOLD.c.household_no, HOUSEHOLD.c.township_id),
                                           HOUSEHOLD.c.id, {r.household_id for r in active.values()})}
    kept: list[_P] = []
    for p in unique_pp:
        old_h = existing.get(p.household_no)
        a = active.get(p.id_number)
        if a is not None and (old_h is None or a.household_id != old_h.id):
            other = elsewhere[a.household_id]
            label = other.household_no if _visible(scope, other.township_id) else "another township's household"
            problems.add(p.at, p.id_field, p.id_number, f"already an active member of household {label}; record "
                                                        "them as moved out there first")
            bad_person_households.add(p.household_no)
            continue
        if a is None and p.id_number in deceased:
            problems.add(p.at, p.id_field, p.id_number, f"registered as deceased ({deceased[p.id_number]})")
            bad_person_households.add(p.household_no)
            continue
        if a is None and old_h is not None and old_h.status == "closed":
            problems.add(p.at, "household_no", p.household_no, "this household is closed (注销)")
            bad_person_households.add(p.household_no)
            continue
        kept.append(p)
        if a is None:
            plan.new_persons.append(p)
        elif (a.name, a.relation) != (p.name, p.relation):
            plan.changed_persons.append((p, a))
        else:
            report.persons_unchanged += 1

    # 6. Heads: each touched household ends with its head as its one active member related 'head'.
    touched = (set(hh) | {p.household_no for p in kept}) - bad_person_households
    members: dict[str, dict[str, tuple[str, str, _P | None]]] = defaultdict(dict)
    by_id = {existing[no].id: no for no in touched if no in existing}
    for r in _rows_in(s, _PERSON_COLUMNS, PERSON.c.household_id, by_id, PERSON.c.is_active):
        members[by_id[r.household_id]][r.id_number] = (r.name, r.relation, None)
    for p in kept:
        members[p.household_no][p.id_number] = (p.name, p.relation, p)
    first_person_row: dict[str, _P] = {}
    for p in kept:
        first_person_row.setdefault(p.household_no, p)
    for no in sorted(touched):
        h = hh.get(no)
        head = h.head_id if h is not None else existing[no].head_id_number
        after = members.get(no, {})
        at = h.at if h is not None else first_person_row[no].at
        if head not in after:
            if h is not None:
                problems.add(at, "head_id_number", head, "the head is not among the household's persons"
                             if no in persons_listed else "the head is not an active member of the household")
            else:
                problems.add(at, "household_no", no, "the household's head is no longer an active member; import "
                                                     "the household's row with its new head")
            continue
        name, relation, p = after[head]
        if h is not None and name != h.head_name:
            problems.add(at, "head_name", h.head_name, f"the head's name in the persons is {name}")
        if relation != "head":
            if p is not None and not p.synthetic:
                problems.add(p.at, "relation", p.relation, "the household's head has relation head (户主)")
            else:
                problems.add(at, "head_id_number", head, f"the head is registered as {relation}; import the "
                                                         "household's persons with their new relations")
        for other_id, (_, other_rel, q) in after.items():
            if other_id != head and other_rel == "head":
                if q is not None:
                    problems.add(q.at, "relation", q.relation, "only the household's head has relation head (户主)")
                else:
                    problems.add(at, "head_id_number", head, "another member is still registered as head; import "
                                                             "the household's persons with their new relations")

    # 7. What changes.
    for h in hh.values():
        old = existing.get(h.no)
        if old is None:
            plan.new_households.append(h)
        elif (h.township.id, h.village_id, h.head_id, h.size, h.status, h.bank_account, h.phone) != (
                old.township_id, old.village_id, old.head_id_number, old.size, old.status, old.bank_account,
                old.phone):
            plan.changed_households.append((h, old))
        else:
            report.households_unchanged += 1
    restatus = {old.id: h for h, old in plan.changed_households if h.status != old.status}
    for household_id, last in _latest_status_dates(s, restatus):
        if plan.on < last:
            h = restatus[household_id]
            problems.add(h.at, "status", h.status, f"the household's status is recorded as effective on {last}; "
                                                   f"a change effective on {plan.on} would come before it")
    if problems:
        raise problems.refusal()
    return plan


def _latest_status_dates(s: Session, household_ids: Iterable[int]) -> list[tuple[int, dt.date]]:
    out: list[tuple[int, dt.date]] = []
    for chunk in bulk.chunks(sorted(set(household_ids))):
        out.extend((r.household_id, r.last) for r in s.execute(
            select(STATUS.c.household_id, func.max(STATUS.c.effective_on).label("last"))
            .where(STATUS.c.household_id.in_(chunk)).group_by(STATUS.c.household_id)))
    return out


def _household_audit(h: _H) -> dict:
    return {"household_no": h.no, "township": h.township.name, "village": h.village,
            "head_id_number": h.head_id, "size": h.size, "status": h.status, "bank_account": h.bank_account,
            "phone": h.phone}


def _apply_households(s: Session, actor: Actor, plan: _Plan, report: UpsertReport) -> None:
    conn = s.connection()
    now = utcnow()
    audits: list[tuple[str, str, str | None, dict | None, dict | None]] = []
    if plan.new_villages:
        bulk.insert_dicts(conn, VILLAGE, [{"township_id": t, "name": n, "created_at": now}
                                          for t, n in sorted(plan.new_villages)])
        ids = {(r.township_id, r.name): r.id for r in _rows_in(
            s, (VILLAGE.c.id, VILLAGE.c.township_id, VILLAGE.c.name), VILLAGE.c.township_id,
            {t for t, _ in plan.new_villages})}
        for t, n in sorted(plan.new_villages):
            audits.append(("registry.village.create", "village", str(ids[(t, n)]), None,
                           {"township": plan.townships_by_id[t].name, "village": n}))
        for h in plan.new_households + [h for h, _ in plan.changed_households]:
            if h.village_id is None:
                h.village_id = ids[(h.township.id, h.village)]
        report.villages_created = len(plan.new_villages)

    # Households: new ones, their first status, then the changed ones (history row first: the
    # database refuses a household status that is not its latest history row's).
    bulk.insert_dicts(conn, HOUSEHOLD, [
        {"household_no": h.no, "township_id": h.township.id, "village_id": h.village_id,
         "head_id_number": h.head_id, "size": h.size, "status": h.status, "bank_account": h.bank_account,
         "phone": h.phone, "created_at": now, "updated_at": now} for h in plan.new_households])
    _analyze_if_large(s, len(plan.new_households), ("village", "household"))
    new_ids = {r.household_no: r.id for r in _rows_in(s, (HOUSEHOLD.c.id, HOUSEHOLD.c.household_no),
                                                      HOUSEHOLD.c.household_no, [h.no for h in plan.new_households])}
    history = [{"household_id": new_ids[h.no], "status": h.status, "effective_on": plan.on,
                "changed_by": actor.user_id, "reason": plan.reason, "recorded_at": now} for h in plan.new_households]
    history += [{"household_id": old.id, "status": h.status, "effective_on": plan.on, "changed_by": actor.user_id,
                 "reason": plan.reason, "recorded_at": now}
                for h, old in plan.changed_households if h.status != old.status]
    bulk.insert_dicts(conn, STATUS, history)
    report.status_changes = len(history) - len(plan.new_households)
    if plan.changed_households:
        s.execute(HOUSEHOLD.update().where(HOUSEHOLD.c.id == bindparam("b_id")).values(
            township_id=bindparam("b_township"), village_id=bindparam("b_village"), head_id_number=bindparam("b_head"),
            size=bindparam("b_size"), status=bindparam("b_status"), bank_account=bindparam("b_bank"),
            phone=bindparam("b_phone"), updated_at=bindparam("b_now")), [
            {"b_id": old.id, "b_township": h.township.id, "b_village": h.village_id,
             "b_head": h.head_id, "b_size": h.size, "b_status": h.status, "b_bank": h.bank_account,
             "b_phone": h.phone, "b_now": now} for h, old in plan.changed_households])
    village_names = {r.id: r.name for r in _rows_in(
        s, (VILLAGE.c.id, VILLAGE.c.name), VILLAGE.c.id,
        [old.village_id for _, old in plan.changed_households])} if plan.changed_households else {}
    for h in plan.new_households:
        audits.append(("registry.household.create", "household", h.no, None,
                       {**_household_audit(h), "effective_on": plan.on, "reason": plan.reason}))
    for h, old in plan.changed_households:
        before = {"household_no": h.no, "township": plan.townships_by_id[old.township_id].name,
                  "village": village_names[old.village_id], "head_id_number": old.head_id_number, "size": old.size,
                  "status": old.status, "bank_account": old.bank_account, "phone": old.phone}
        after = _household_audit(h)
        if h.status != old.status:
            after |= {"effective_on": plan.on, "reason": plan.reason}
        audits.append(("registry.household.update", "household", h.no, before, after))
    report.households_created, report.households_updated = len(plan.new_households), len(plan.changed_households)

    # Persons.
    household_ids = {no: i for i, no in plan.household_nos_by_id.items()} | new_ids
    bulk.insert_dicts(conn, PERSON, [
        {"household_id": household_ids[p.household_no], "name": p.name, "id_number": p.id_number,
         "relation": p.relation, "is_active": True, "created_at": now, "updated_at": now} for p in plan.new_persons])
    _analyze_if_large(s, len(plan.new_persons), ("person", "household_status"))
    if plan.changed_persons:
        s.execute(PERSON.update().where(PERSON.c.id == bindparam("b_id")).values(
            name=bindparam("b_name"), relation=bindparam("b_relation"), updated_at=bindparam("b_now")),
            [{"b_id": a.id, "b_name": p.name, "b_relation": p.relation, "b_now": now}
             for p, a in plan.changed_persons])
    person_ids = {r.id_number: r.id for r in _rows_in(s, (PERSON.c.id, PERSON.c.id_number), PERSON.c.id_number,
                                                      [p.id_number for p in plan.new_persons], PERSON.c.is_active)}
    for p in plan.new_persons:
        audits.append(("registry.person.create", "person", str(person_ids[p.id_number]), None,
                       {"household_no": p.household_no, "name": p.name, "id_number": p.id_number,
                        "relation": p.relation}))
    for p, a in plan.changed_persons:
        audits.append(("registry.person.update", "person", str(a.id),
                       {"household_no": p.household_no, "name": a.name, "id_number": a.id_number,
                        "relation": a.relation},
                       {"household_no": p.household_no, "name": p.name, "id_number": p.id_number,
                        "relation": p.relation}))
    report.persons_created, report.persons_updated = len(plan.new_persons), len(plan.changed_persons)
    if report.changed:
        summary = report.as_dict() | {"warnings": len(report.warnings)}
        audits.append(("registry.import", "registry", None, None, summary))
    _audit_many(s, actor, audits)


def _analyze_if_large(s: Session, rows: int, tables: tuple[str, ...]) -> None:
    if rows >= ANALYZE_AFTER_ROWS and s.get_bind().dialect.name == "postgresql":
        s.execute(text("ANALYZE " + ", ".join(tables)))


# ---------------------------------------------------------------------------------------------
# Status changes and members leaving


@dataclass(frozen=True, slots=True)
class StatusView:
    status: str
    effective_on: dt.date
    changed_by: str | None
    reason: str
    recorded_at: dt.datetime


def _refuse(where: str, field_: str, value: object, message: str) -> LedgerRefusal:
    return LedgerRefusal([Problem(where, field_, "" if value is None else str(value), message)])


def _visible_household(s: Session, actor: Actor, household_no: str):
    """The household row if it exists and the actor may see it, else None."""
    row = s.execute(select(HOUSEHOLD).where(HOUSEHOLD.c.household_no == (household_no or "").strip())).first()
    if row is None or not _visible(_scope_id(s, actor), row.township_id):
        return None
    return row


def change_household_status(engine: Engine, actor: Actor, household_no: str, status: str, effective_on: dt.date,
                            reason: str) -> StatusView:
    """Record a household's new status (including 注销 closed), effective on a date, with why.

    The date may not be in the future, nor before the household's latest recorded status (the
    history reads forward). Recording the status it already has is refused.
    """
    require(actor, "registry.edit")
    today = _today()
    problems: list[Problem] = []
    where = f"household {household_no}"
    key = key_of(status, STATUS_LABELS)
    if key is None:
        problems.append(Problem(where, "status", str(status), "status must be one of " + _choices(STATUS_LABELS)))
    on, msg = _date(effective_on, "effective date", today)
    if msg:
        problems.append(Problem(where, "effective_on", str(effective_on), msg))
    why, msg = _text(reason, "reason", MAX_REASON_LEN)
    if msg:
        problems.append(Problem(where, "reason", str(reason), msg))
    if problems:
        raise LedgerRefusal(problems)
    assert key and on and why
    with unit_of_work(engine) as s:
        _lock(s)
        h = _visible_household(s, actor, household_no)
        if h is None:
            raise _refuse(where, "household_no", household_no, "no such household")
        last = s.execute(select(STATUS.c.status, STATUS.c.effective_on).where(STATUS.c.household_id == h.id)
                         .order_by(STATUS.c.effective_on.desc(), STATUS.c.id.desc()).limit(1)).first()
        if last is not None and on < last.effective_on:
            raise _refuse(where, "effective_on", on, f"the status is recorded as effective on {last.effective_on}; "
                                                     "a change cannot come before it")
        if h.status == key:
            raise _refuse(where, "status", key, f"the household is already {key} {STATUS_LABELS[key]}")
        now = utcnow()
        s.execute(STATUS.insert().values(household_id=h.id, status=key, effective_on=on, changed_by=actor.user_id,
                                         reason=why, recorded_at=now))
        s.execute(HOUSEHOLD.update().where(HOUSEHOLD.c.id == h.id).values(status=key, updated_at=now))
        audit.record(s, actor, "registry.household.status", "household", h.household_no,
                     before={"status": h.status, "effective_on": None if last is None else last.effective_on},
                     after={"status": key, "effective_on": on, "reason": why})
        return StatusView(key, on, actor.username, why, now)


def deactivate_person(engine: Engine, actor: Actor, id_number: str, *, reason: str, on: dt.date,
                      note: str | None = None) -> None:
    """End a person's active membership: moved out (迁出), died (死亡, `on` is the death date) or other.

    The membership row stays, frozen; the person may then be registered in another household.
    """
    require(actor, "registry.edit")
    today = _today()
    number = normalise_id(id_number) if isinstance(id_number, str) else ""
    where = "person"
    problems: list[Problem] = []
    key = key_of(reason, LEFT_REASON_LABELS)
    if key is None:
        problems.append(Problem(where, "reason", str(reason), "reason must be one of " + _choices(LEFT_REASON_LABELS)))
    day, msg = _date(on, "date", today)
    if msg:
        problems.append(Problem(where, "on", str(on), msg))
    text_note, msg = _text(note, "note", MAX_NOTE_LEN, required=False)
    if msg:
        problems.append(Problem(where, "note", str(note), msg))
    if problems:
        raise LedgerRefusal(problems)
    assert key and day
    with unit_of_work(engine) as s:
        _lock(s)
        row = s.execute(select(PERSON.c.id, PERSON.c.name, PERSON.c.relation, HOUSEHOLD.c.household_no,
                               HOUSEHOLD.c.township_id)
                        .select_from(PERSON.join(HOUSEHOLD, HOUSEHOLD.c.id == PERSON.c.household_id))
                        .where(PERSON.c.id_number == number, PERSON.c.is_active)).first()
        if row is None or not _visible(_scope_id(s, actor), row.township_id):
            raise _refuse(where, "id_number", id_number, "no active person with this ID number")
        s.execute(PERSON.update().where(PERSON.c.id == row.id).values(
            is_active=False, left_on=day, left_reason=key, left_note=text_note,
            death_date=day if key == "died" else None, updated_at=utcnow()))
        audit.record(s, actor, "registry.person.deactivate", "person", str(row.id),
                     before={"household_no": row.household_no, "name": row.name, "id_number": number,
                             "is_active": True},
                     after={"household_no": row.household_no, "name": row.name, "id_number": number,
                            "is_active": False, "left_on": day, "left_reason": key, "left_note": text_note})


# ---------------------------------------------------------------------------------------------
# Officials and reference lists


def upsert_officials(engine: Engine, actor: Actor, rows: Sequence[OfficialIn]) -> BulkReport:
    """Village and township officials, by (id_number, position, township, village); idempotent."""
    require(actor, "registry.reference")
    rows = list(rows)
    _check_batch(len(rows))
    today = _today()
    problems = _Problems()
    report = BulkReport()
    with unit_of_work(engine) as s:
        _lock(s)
        towns = _townships(s)
        scope = _scope_id(s, actor)
        parsed = []
        for i, r in enumerate(rows, 1):
            at = _at("officials", 0, i, r.row)
            pid, m_id = _resident_id(r.id_number, today)
            name, m_n = _text(r.name, "name")
            position, m_p = _text(r.position, "position")
            tkey, m_t = _text(r.township, "township")
            village, m_v = _text(r.village, "village", required=False)
            start, m_f = _date(r.active_from, "start date", today, required=False)
            end, m_e = _date(r.active_to, "end date", today, required=False)
            town = towns.get(tkey) if tkey else None
            if tkey and town is None:
                m_t = "no such township"
            elif town is not None and not _visible(scope, town.id):
                m_t = f"outside your township ({actor.township})"
            if start and end and end < start:
                m_e = "the end date is before the start date"
            found = [(f, v, m) for f, v, m in (
                ("id_number", r.id_number, m_id), ("name", r.name, m_n), ("position", r.position, m_p),
                ("township", r.township, m_t), ("village", r.village, m_v), ("active_from", r.active_from, m_f),
                ("active_to", r.active_to, m_e)) if m]
            for f, v, m in found:
                problems.add(at, f, v, m)
            if not found:
                parsed.append((at, pid, name, position, town, village, start, end))
        villages = {(r.township_id, r.name): r.id for r in _rows_in(
            s, (VILLAGE.c.id, VILLAGE.c.township_id, VILLAGE.c.name), VILLAGE.c.township_id,
            {p[4].id for p in parsed})}
        wanted: dict[tuple, tuple] = {}
        for at, pid, name, position, town, village, start, end in parsed:
            vid = None
            if village is not None:
                vid = villages.get((town.id, village))
                if vid is None:
                    problems.add(at, "village", village, f"no such village in {town.name}")
                    continue
            k = (pid, position, town.id, vid)
            if k in wanted:
                problems.add(at, "id_number", pid, f"this official appears again (first at {wanted[k][0].where})")
                continue
            wanted[k] = (at, name, start, end, town, village)
        existing = {(r.id_number, r.position, r.township_id, r.village_id): r for r in _rows_in(
            s, (OFFICIAL.c.id, OFFICIAL.c.id_number, OFFICIAL.c.name, OFFICIAL.c.position, OFFICIAL.c.township_id,
                OFFICIAL.c.village_id, OFFICIAL.c.active_from, OFFICIAL.c.active_to),
            OFFICIAL.c.id_number, {k[0] for k in wanted})}
        if problems:
            raise problems.refusal()
        now = utcnow()
        creates, updates, audits = [], [], []
        for k, (_, name, start, end, town, village) in wanted.items():
            after = {"id_number": k[0], "name": name, "position": k[1], "township": town.name, "village": village,
                     "active_from": start, "active_to": end}
            old = existing.get(k)
            if old is None:
                creates.append({"id_number": k[0], "name": name, "position": k[1], "township_id": k[2],
                                "village_id": k[3], "active_from": start, "active_to": end, "created_at": now,
                                "updated_at": now})
                audits.append(("registry.official.create", "official", k[0], None, after))
            elif (old.name, old.active_from, old.active_to) != (name, start, end):
                updates.append({"b_id": old.id, "b_name": name, "b_from": start, "b_to": end, "b_now": now})
                audits.append(("registry.official.update", "official", k[0],
                               after | {"name": old.name, "active_from": old.active_from,
                                        "active_to": old.active_to}, after))
            else:
                report.unchanged += 1
        bulk.insert_dicts(s.connection(), OFFICIAL, creates)
        _analyze_if_large(s, len(creates), ("official",))
        if updates:
            s.execute(OFFICIAL.update().where(OFFICIAL.c.id == bindparam("b_id")).values(
                name=bindparam("b_name"), active_from=bindparam("b_from"), active_to=bindparam("b_to"),
                updated_at=bindparam("b_now")), updates)
        _audit_many(s, actor, audits)
        report.created, report.updated = len(creates), len(updates)
    return report


def upsert_reference_entries(engine: Engine, actor: Actor, rows: Sequence[ReferenceIn]) -> BulkReport:
    """Reference lists (deaths, public employees, vehicles, businesses), by (id_number, kind, date);
    idempotent. County-wide: they name people wherever they are registered."""
    require(actor, "registry.reference")
    rows = list(rows)
    _check_batch(len(rows))
    today = _today()
    problems = _Problems()
    wanted: dict[tuple[str, str, dt.date], tuple[_At, str]] = {}
    for i, r in enumerate(rows, 1):
        at = _at("reference", 0, i, r.row)
        pid, m_id = _resident_id(r.id_number, today)
        name, m_n = _text(r.name, "name")
        kind = key_of(r.kind, REFERENCE_LABELS)
        m_k = "" if kind else "kind must be one of " + _choices(REFERENCE_LABELS)
        day, m_d = _date(r.on_date, "date", today)
        found = [(f, v, m) for f, v, m in (("id_number", r.id_number, m_id), ("name", r.name, m_n),
                                           ("kind", r.kind, m_k), ("date", r.on_date, m_d)) if m]
        for f, v, m in found:
            problems.add(at, f, v, m)
        if found:
            continue
        assert pid and name and kind and day
        k = (pid, kind, day)
        if k in wanted:
            problems.add(at, "id_number", pid, f"this entry appears again (first at {wanted[k][0].where})")
            continue
        wanted[k] = (at, name)
    if problems:
        raise problems.refusal()
    report = BulkReport()
    with unit_of_work(engine) as s:
        _lock(s)
        existing = {(r.id_number, r.kind, r.on_date): r for r in _rows_in(
            s, (REFERENCE.c.id, REFERENCE.c.id_number, REFERENCE.c.kind, REFERENCE.c.on_date, REFERENCE.c.name),
            REFERENCE.c.id_number, {k[0] for k in wanted})}
        now = utcnow()
        creates, updates, audits = [], [], []
        for k, (_, name) in wanted.items():
            after = {"id_number": k[0], "kind": k[1], "date": k[2], "name": name}
            old = existing.get(k)
            if old is None:
                creates.append({"id_number": k[0], "name": name, "kind": k[1], "on_date": k[2], "created_at": now,
                                "updated_at": now})
                audits.append(("registry.reference.create", "reference_entry", k[0], None, after))
            elif old.name != name:
                updates.append({"b_id": old.id, "b_name": name, "b_now": now})
                audits.append(("registry.reference.update", "reference_entry", k[0], after | {"name": old.name},
                               after))
            else:
                report.unchanged += 1
        bulk.insert_dicts(s.connection(), REFERENCE, creates)
        _analyze_if_large(s, len(creates), ("reference_entry",))
        if updates:
            s.execute(REFERENCE.update().where(REFERENCE.c.id == bindparam("b_id"))
                      .values(name=bindparam("b_name"), updated_at=bindparam("b_now")), updates)
        _audit_many(s, actor, audits)
        report.created, report.updated = len(creates), len(updates)
    return report


# ---------------------------------------------------------------------------------------------
# Read models


@dataclass(frozen=True, slots=True)
class PersonHit:
    household_no: str
    township: str
    village: str
    household_status: str
    person_id: int
    name: str
    id_number: str
    relation: str
    is_head: bool
    is_active: bool
    left_on: dt.date | None
    left_reason: str | None


def search_registry(engine: Engine, actor: Actor, *, name: str | None = None, id_number: str | None = None,
                    household_no: str | None = None, include_inactive: bool = False, page: int = 1,
                    page_size: int = DEFAULT_PAGE_SIZE) -> Page:
    """Persons by name prefix, exact ID number or exact household number (any combination, all
    must match), in the actor's township; active members only unless `include_inactive`."""
    require(actor, "registry.read")
    page, page_size = clamp_page(page, page_size)
    conds = []
    name = (name or "").strip()
    id_number = normalise_id(id_number or "")
    household_no = (household_no or "").strip()
    if not (name or id_number or household_no):
        raise _refuse("search", "query", "", "give a name, an ID number or a household number")
    if len(name) > MAX_NAME_LEN or len(id_number) > 18 or len(household_no) > 32:
        raise _refuse("search", "query", "", "the search text is too long")
    if name:
        pattern = name.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"
        conds.append(PERSON.c.name.like(pattern, escape="/"))
    if id_number:
        conds.append(PERSON.c.id_number == id_number)
    if household_no:
        conds.append(HOUSEHOLD.c.household_no == household_no)
    if not include_inactive:
        conds.append(PERSON.c.is_active)
    src = (PERSON.join(HOUSEHOLD, HOUSEHOLD.c.id == PERSON.c.household_id)
           .join(TOWNSHIP, TOWNSHIP.c.id == HOUSEHOLD.c.township_id)
           .join(VILLAGE, VILLAGE.c.id == HOUSEHOLD.c.village_id))
    with read_only(engine) as s:
        scope = _scope_id(s, actor)
        if scope is not None:
            conds.append(HOUSEHOLD.c.township_id == scope)
        if name and s.get_bind().dialect.name == "sqlite":
            # SQLite's LIKE is case-insensitive and so cannot use the (binary) name index; the same
            # prefix as a range can. UTF-8 byte order is code point order.
            conds += [PERSON.c.name >= name, PERSON.c.name < name + "\U0010ffff"]
        where = and_(True, *conds)
        total = s.execute(select(func.count()).select_from(src).where(where)).scalar_one()
        stmt = (select(HOUSEHOLD.c.household_no, TOWNSHIP.c.name.label("township"), VILLAGE.c.name.label("village"),
                       HOUSEHOLD.c.status, HOUSEHOLD.c.head_id_number, PERSON.c.id, PERSON.c.name, PERSON.c.id_number,
                       PERSON.c.relation, PERSON.c.is_active, PERSON.c.left_on, PERSON.c.left_reason)
                .select_from(src).where(where)
                .order_by(PERSON.c.name, HOUSEHOLD.c.household_no, PERSON.c.is_active.desc(), PERSON.c.id)
                .limit(page_size).offset((page - 1) * page_size))
        items = [PersonHit(r.household_no, r.township, r.village, r.status, r.id, r.name, r.id_number, r.relation,
                           bool(r.is_active) and r.id_number == r.head_id_number, bool(r.is_active), r.left_on,
                           r.left_reason) for r in s.execute(stmt)]
    return Page(items, int(total), page, page_size)


@dataclass(frozen=True, slots=True)
class MemberView:
    person_id: int
    name: str
    id_number: str
    relation: str
    is_head: bool
    is_active: bool
    left_on: dt.date | None
    left_reason: str | None
    left_note: str | None
    death_date: dt.date | None
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class HouseholdDetail:
    household_no: str
    township_code: str
    township: str
    village: str
    head_id_number: str
    head_name: str | None  # None when the head is no longer an active member
    size: int
    status: str  # current: the latest history row's
    bank_account: str | None
    phone: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    members: list[MemberView]  # active first (head first), then former members
    history: list[StatusView]  # oldest first
    as_of: dt.date | None = None
    status_as_of: str | None = None  # the status in force on `as_of`, when one is asked for


def household_detail(engine: Engine, actor: Actor, household_no: str,
                     as_of: dt.date | None = None) -> HouseholdDetail | None:
    """One household page: its members (current and former) and its status history. None when it
    does not exist or lies outside the actor's township."""
    require(actor, "registry.read")
    with read_only(engine) as s:
        h = _visible_household(s, actor, household_no)
        if h is None:
            return None
        town = s.execute(select(TOWNSHIP.c.code, TOWNSHIP.c.name).where(TOWNSHIP.c.id == h.township_id)).one()
        village = s.execute(select(VILLAGE.c.name).where(VILLAGE.c.id == h.village_id)).scalar_one()
        is_head = and_(PERSON.c.is_active, PERSON.c.id_number == h.head_id_number)
        members = [
            MemberView(r.id, r.name, r.id_number, r.relation, bool(r.is_active) and r.id_number == h.head_id_number,
                       bool(r.is_active), r.left_on, r.left_reason, r.left_note, r.death_date, r.created_at)
            for r in s.execute(select(PERSON).where(PERSON.c.household_id == h.id).order_by(
                PERSON.c.is_active.desc(), case((is_head, 0), else_=1), PERSON.c.id))]
        rows = s.execute(select(STATUS.c.id, STATUS.c.status, STATUS.c.effective_on, STATUS.c.reason,
                                STATUS.c.recorded_at, USER.c.username)
                         .select_from(STATUS.outerjoin(USER, USER.c.id == STATUS.c.changed_by))
                         .where(STATUS.c.household_id == h.id).order_by(STATUS.c.effective_on, STATUS.c.id)).all()
    history = [StatusView(r.status, r.effective_on, r.username, r.reason, r.recorded_at) for r in rows]
    head = next((m for m in members if m.is_head), None)
    return HouseholdDetail(
        h.household_no, town.code, town.name, village, h.head_id_number, head.name if head else None, h.size,
        h.status, h.bank_account, h.phone, h.created_at, h.updated_at, members, history, as_of,
        status_on(((r.effective_on, r.id, r.status) for r in rows), as_of) if as_of else None)


def household_status_on(engine: Engine, actor: Actor, household_no: str, day: dt.date) -> str | None:
    """The household's status in force on `day` (None before its first status)."""
    detail = household_detail(engine, actor, household_no, as_of=day)
    if detail is None:
        raise _refuse(f"household {household_no}", "household_no", household_no, "no such household")
    return detail.status_as_of


__all__ = [
    "MAX_BATCH", "BulkReport", "HouseholdDetail", "HouseholdIn", "MemberView", "OfficialIn", "PersonHit", "PersonIn",
    "ReferenceIn", "StatusView", "TownshipIn", "TownshipView", "UpsertReport", "VillageView",
    "change_household_status", "deactivate_person", "household_detail", "household_status_on", "list_townships",
    "list_villages", "search_registry", "status_on", "upsert_households", "upsert_officials", "upsert_persons",
    "upsert_reference_entries", "upsert_townships", "key_of",
]
