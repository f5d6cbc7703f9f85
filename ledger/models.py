"""Tables (SQLModel on SQLAlchemy 2). Owns the schema the Alembic migrations must match.

Money columns are BIGINT fen. Journal tables (entry, posting) are append-only: the database
triggers created in migrations refuse UPDATE and DELETE of anything posted; the one permitted
update is the seal (status pending -> posted), which itself aborts unless every fund balances.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

GENESIS_HASH = "0" * 64


def utcnow() -> dt.datetime:
    # Naive UTC to the second (explicit DateTime columns, not SQLModel's aware type): it
    # serialises identically on SQLite and PostgreSQL, which the hash chain depends on.
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


class AppUser(SQLModel, table=True):
    __tablename__ = "app_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    display_name: str = Field(default="", sa_column=Column(String(128), nullable=False, server_default=""))
    role: str = Field(sa_column=Column(String(32), nullable=False))
    township: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    password_hash: str | None = Field(default=None, sa_column=Column(String(256), nullable=True))
    is_active: bool = Field(default=True)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))
    password_changed_at: dt.datetime | None = Field(default=None, sa_column=Column(DateTime, nullable=True))


class AuditLog(SQLModel, table=True):
    """Append-only: who did what, when, with before/after values (JSON text)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"), Index("ix_audit_log_object", "object_type", "object_id"))

    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))
    actor_id: int | None = Field(default=None, sa_column=Column(Integer, ForeignKey("app_user.id"), nullable=True))
    action: str = Field(sa_column=Column(String(64), nullable=False))
    object_type: str = Field(sa_column=Column(String(64), nullable=False))
    object_id: str | None = Field(default=None, sa_column=Column(String(128), nullable=True))
    before: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    after: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class Account(SQLModel, table=True):
    __tablename__ = "account"
    __table_args__ = (
        CheckConstraint("type IN ('asset','liability','equity','income','expense')", name="ck_account_type"),
        CheckConstraint("limit_kind IN ('none','non_negative')", name="ck_account_limit_kind"),
    )

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(sa_column=Column(String(200), nullable=False, unique=True))
    type: str = Field(sa_column=Column(String(16), nullable=False))
    name_zh: str = Field(default="", sa_column=Column(String(200), nullable=False, server_default=""))
    name_en: str = Field(default="", sa_column=Column(String(200), nullable=False, server_default=""))
    party_kind: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))
    party_ref: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    opened_on: dt.date
    closed_on: dt.date | None = None
    # 'non_negative': the debit-positive balance may never drop below zero in any fund (a project
    # cannot pay out more than it holds).
    limit_kind: str = Field(default="none", sa_column=Column(String(16), nullable=False, server_default="none"))


class Fund(SQLModel, table=True):
    __tablename__ = "fund"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    name: str = Field(default="", sa_column=Column(String(200), nullable=False, server_default=""))
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    document_no: str | None = Field(default=None, sa_column=Column(String(128), nullable=True))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))


class Entry(SQLModel, table=True):
    __tablename__ = "entry"
    __table_args__ = (
        CheckConstraint("status IN ('pending','posted')", name="ck_entry_status"),
        Index("ix_entry_effective_date", "effective_date"),
        Index("ix_entry_kind", "kind"),
    )

    seq: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    effective_date: dt.date
    recorded_at: dt.datetime = Field(sa_column=Column(DateTime, nullable=False))
    kind: str = Field(sa_column=Column(String(32), nullable=False))
    memo: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    idempotency_key: str = Field(sa_column=Column(String(200), nullable=False, unique=True))
    payload_hash: str = Field(sa_column=Column(String(64), nullable=False))
    reverses: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("entry.seq"), nullable=True, unique=True)
    )
    maker_id: int | None = Field(default=None, sa_column=Column(Integer, ForeignKey("app_user.id"), nullable=True))
    checker_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("app_user.id"), nullable=True)
    )
    status: str = Field(default="pending", sa_column=Column(String(8), nullable=False))
    prev_hash: str = Field(sa_column=Column(String(64), nullable=False))
    hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))


class Posting(SQLModel, table=True):
    __tablename__ = "posting"
    __table_args__ = (
        Index("ix_posting_entry", "entry_seq"),
        # As-of balances of one account are an index range, never a scan of the journal.
        Index("ix_posting_account_fund_date", "account_id", "fund_id", "effective_date"),
        Index("ix_posting_effective_date", "effective_date"),
        CheckConstraint("amount_fen <> 0", name="ck_posting_nonzero"),
    )

    id: int | None = Field(default=None, primary_key=True)
    entry_seq: int = Field(sa_column=Column(Integer, ForeignKey("entry.seq"), nullable=False))
    account_id: int = Field(sa_column=Column(Integer, ForeignKey("account.id"), nullable=False))
    fund_id: int = Field(sa_column=Column(Integer, ForeignKey("fund.id"), nullable=False))
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    party: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    # Copied from the entry so that as-of queries need no join.
    effective_date: dt.date


class Balance(SQLModel, table=True):
    """Current balance per (account, fund), kept in the same transaction as the postings."""

    __tablename__ = "balance"
    __table_args__ = (
        CheckConstraint("NOT non_negative OR balance_fen >= 0", name="ck_balance_non_negative"),
    )

    account_id: int = Field(sa_column=Column(Integer, ForeignKey("account.id"), primary_key=True))
    fund_id: int = Field(sa_column=Column(Integer, ForeignKey("fund.id"), primary_key=True))
    balance_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    version: int = Field(sa_column=Column(Integer, nullable=False))
    last_seq: int = Field(sa_column=Column(Integer, nullable=False))
    non_negative: bool = Field(default=False)


class JournalHead(SQLModel, table=True):
    """One row: the chain head. Locking it serialises posters, which the hash chain needs anyway."""

    __tablename__ = "journal_head"
    __table_args__ = (CheckConstraint("id = 1", name="ck_journal_head_single"),)

    id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    seq: int = Field(sa_column=Column(Integer, nullable=False))
    hash: str = Field(sa_column=Column(String(64), nullable=False))


class PeriodClose(SQLModel, table=True):
    __tablename__ = "period_close"

    month: str = Field(sa_column=Column(String(7), primary_key=True))  # 'YYYY-MM'
    closed_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))
    closed_by: int | None = Field(default=None, sa_column=Column(Integer, ForeignKey("app_user.id"), nullable=True))


class VerificationRun(SQLModel, table=True):
    __tablename__ = "verification_run"

    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))
    ok: bool
    entries_checked: int
    head_seq: int
    head_hash: str = Field(sa_column=Column(String(64), nullable=False))
    first_bad_seq: int | None = None
    message: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))


class UserSession(SQLModel, table=True):
    """A signed-in browser. The cookie holds a random token; only its keyed hash (HMAC) is stored."""

    __tablename__ = "user_session"
    __table_args__ = (Index("ix_user_session_user", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    user_id: int = Field(sa_column=Column(Integer, ForeignKey("app_user.id"), nullable=False))
    csrf_token: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))
    last_seen_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))
    expires_at: dt.datetime = Field(sa_column=Column(DateTime, nullable=False))
    revoked_at: dt.datetime | None = Field(default=None, sa_column=Column(DateTime, nullable=True))
    ip: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    user_agent: str | None = Field(default=None, sa_column=Column(String(256), nullable=True))


class ApiToken(SQLModel, table=True):
    """A bearer token for the JSON API: opaque, stored hashed, revocable, one user each."""

    __tablename__ = "api_token"
    __table_args__ = (Index("ix_api_token_user", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(sa_column=Column(Integer, ForeignKey("app_user.id"), nullable=False))
    name: str = Field(sa_column=Column(String(64), nullable=False))
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))
    last_used_at: dt.datetime | None = Field(default=None, sa_column=Column(DateTime, nullable=True))
    revoked_at: dt.datetime | None = Field(default=None, sa_column=Column(DateTime, nullable=True))


class LoginAttempt(SQLModel, table=True):
    __tablename__ = "login_attempt"
    __table_args__ = (
        Index("ix_login_attempt_username_at", "username", "at"),
        Index("ix_login_attempt_ip_at", "ip", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(sa_column=Column(String(64), nullable=False))
    at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))
    ok: bool
    ip: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))


class IdempotencyRecord(SQLModel, table=True):
    """The first response to an API POST with an Idempotency-Key, replayed for repeats."""

    __tablename__ = "idempotency_record"
    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_idempotency_user_key"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(sa_column=Column(Integer, ForeignKey("app_user.id"), nullable=False))
    key: str = Field(sa_column=Column(String(200), nullable=False))
    method: str = Field(sa_column=Column(String(8), nullable=False))
    path: str = Field(sa_column=Column(String(500), nullable=False))
    request_hash: str = Field(sa_column=Column(String(64), nullable=False))
    status_code: int
    response_body: str = Field(sa_column=Column(Text, nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))


# ---------------------------------------------------------------------------------------------
# The registry (DESIGN.md §5, §8): townships, villages, households, persons, the households'
# effective-dated status history, officials and the reference lists. Nothing here is ever deleted
# (the migrations' triggers refuse DELETE); a person leaves a household by becoming inactive, and an
# inactive membership is history: the database refuses to change it.

HOUSEHOLD_STATUSES = ("poor", "exited", "edge", "monitored", "general", "closed")
PERSON_RELATIONS = ("head", "spouse", "child", "parent", "other")
LEFT_REASONS = ("moved", "died", "other")
REFERENCE_KINDS = ("death", "public_employee", "vehicle", "business")
TOWNSHIP_KINDS = ("xiang", "zhen")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({','.join(repr(v) for v in values)})"


class Township(SQLModel, table=True):
    """乡镇: a 乡 (xiang) or a 镇 (zhen). A scoped user's `township` names one (by code or name)."""

    __tablename__ = "township"
    __table_args__ = (CheckConstraint(_in("kind", TOWNSHIP_KINDS), name="ck_township_kind"),)

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(sa_column=Column(String(32), nullable=False, unique=True))
    name: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    kind: str = Field(sa_column=Column(String(8), nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))


class Village(SQLModel, table=True):
    """行政村, unique by name within its township."""

    __tablename__ = "village"
    __table_args__ = (UniqueConstraint("township_id", "name", name="uq_village_township_name"),)

    id: int | None = Field(default=None, primary_key=True)
    township_id: int = Field(sa_column=Column(Integer, ForeignKey("township.id"), nullable=False))
    name: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))


class Household(SQLModel, table=True):
    """户. `status` is the status of the latest household_status row (by effective_on, then id),
    kept in the same transaction as that row; the database refuses an update that disagrees.
    The head is named by ID number: an active member of this household."""

    __tablename__ = "household"
    __table_args__ = (
        CheckConstraint(_in("status", HOUSEHOLD_STATUSES), name="ck_household_status"),
        CheckConstraint("size >= 1", name="ck_household_size"),
        Index("ix_household_township_village", "township_id", "village_id"),
        Index("ix_household_bank_account", "bank_account"),
    )

    id: int | None = Field(default=None, primary_key=True)
    household_no: str = Field(sa_column=Column(String(32), nullable=False, unique=True))
    township_id: int = Field(sa_column=Column(Integer, ForeignKey("township.id"), nullable=False))
    village_id: int = Field(sa_column=Column(Integer, ForeignKey("village.id"), nullable=False))
    head_id_number: str = Field(sa_column=Column(String(18), nullable=False))
    size: int = Field(sa_column=Column(Integer, nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    bank_account: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    phone: str | None = Field(default=None, sa_column=Column(String(20), nullable=True))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))


class Person(SQLModel, table=True):
    """A person's membership of a household. One active membership per ID number across the
    county (a partial unique index); moving out or death ends it (is_active false) and the row is
    then frozen. Re-registration elsewhere is a new row."""

    __tablename__ = "person"
    __table_args__ = (
        CheckConstraint(_in("relation", PERSON_RELATIONS), name="ck_person_relation"),
        CheckConstraint("left_reason IS NULL OR " + _in("left_reason", LEFT_REASONS), name="ck_person_left_reason"),
        CheckConstraint("is_active OR (left_on IS NOT NULL AND left_reason IS NOT NULL)", name="ck_person_left"),
        CheckConstraint("left_reason IS NULL OR left_reason <> 'died' OR death_date IS NOT NULL",
                        name="ck_person_death_date"),
        Index("uq_person_active_id_number", "id_number", unique=True,
              sqlite_where=text("is_active"), postgresql_where=text("is_active")),
        Index("ix_person_id_number", "id_number"),
        Index("ix_person_household", "household_id"),
        # Name search is a prefix match (LIKE 'x%'): on PostgreSQL only a pattern-ops index serves it
        # whatever the database's collation.
        Index("ix_person_name", "name", postgresql_ops={"name": "text_pattern_ops"}),
    )

    id: int | None = Field(default=None, primary_key=True)
    household_id: int = Field(sa_column=Column(Integer, ForeignKey("household.id"), nullable=False))
    name: str = Field(sa_column=Column(String(64), nullable=False))
    id_number: str = Field(sa_column=Column(String(18), nullable=False))
    relation: str = Field(sa_column=Column(String(8), nullable=False))
    is_active: bool = Field(default=True)
    left_on: dt.date | None = None
    left_reason: str | None = Field(default=None, sa_column=Column(String(8), nullable=True))
    left_note: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    death_date: dt.date | None = None
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))


class HouseholdStatus(SQLModel, table=True):
    """Effective-dated status history of a household: append-only (UPDATE and DELETE refused)."""

    __tablename__ = "household_status"
    __table_args__ = (
        CheckConstraint(_in("status", HOUSEHOLD_STATUSES), name="ck_household_status_status"),
        Index("ix_household_status_household", "household_id", "effective_on", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    household_id: int = Field(sa_column=Column(Integer, ForeignKey("household.id"), nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    effective_on: dt.date
    changed_by: int = Field(sa_column=Column(Integer, ForeignKey("app_user.id"), nullable=False))
    reason: str = Field(sa_column=Column(String(500), nullable=False))
    recorded_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))


class Official(SQLModel, table=True):
    """村/乡镇干部 (for R05, R09). Natural key: (id_number, position, township, village)."""

    __tablename__ = "official"
    __table_args__ = (Index("ix_official_id_number", "id_number"),)

    id: int | None = Field(default=None, primary_key=True)
    id_number: str = Field(sa_column=Column(String(18), nullable=False))
    name: str = Field(sa_column=Column(String(64), nullable=False))
    position: str = Field(sa_column=Column(String(64), nullable=False))
    township_id: int = Field(sa_column=Column(Integer, ForeignKey("township.id"), nullable=False))
    village_id: int | None = Field(default=None, sa_column=Column(Integer, ForeignKey("village.id"), nullable=True))
    active_from: dt.date | None = None
    active_to: dt.date | None = None
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))


class ReferenceEntry(SQLModel, table=True):
    """Reference lists (R02, R06): deaths, public employees (财政供养), vehicles, businesses (工商)."""

    __tablename__ = "reference_entry"
    __table_args__ = (
        CheckConstraint(_in("kind", REFERENCE_KINDS), name="ck_reference_entry_kind"),
        UniqueConstraint("id_number", "kind", "on_date", name="uq_reference_entry_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    id_number: str = Field(sa_column=Column(String(18), nullable=False))
    name: str = Field(sa_column=Column(String(64), nullable=False))
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    on_date: dt.date
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))


# ---------------------------------------------------------------------------------------------
# The project library (项目库) and allocation requests (资金安排申请), DESIGN.md §4, §5. A project
# holds its money in `account_code` (Assets:Project:<component of its code>); its status only moves
# forward, each move a project_status row (who, when, why), and the database refuses a status that
# disagrees with the latest history row or goes back. An allocation request is prepared by one user
# and decided by another; an approved one names the entry it posted. Nothing here is ever deleted.

PROJECT_INDUSTRIES = ("rose", "grape", "vegetable", "marigold", "fungus", "sheep", "goose", "pigeon", "rabbit",
                      "hotan_sheep", "welfare_post", "interest_subsidy", "infrastructure", "other")
PROJECT_STATUSES = ("planned", "approved", "implementing", "completed", "accepted", "closed")
ALLOCATION_KINDS = ("allocation", "reallocation")
ALLOCATION_STATUSES = ("pending", "approved", "rejected")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({','.join(repr(v) for v in values)})"


class Project(SQLModel, table=True):
    """项目库. `township` NULL: a county-wide project. Budgets and standards are fen."""

    __tablename__ = "project"
    __table_args__ = (
        CheckConstraint(_one_of("industry", PROJECT_INDUSTRIES), name="ck_project_industry"),
        CheckConstraint(_one_of("status", PROJECT_STATUSES), name="ck_project_status"),
        CheckConstraint("budget_fen >= 0", name="ck_project_budget"),
        CheckConstraint("standard_fen IS NULL OR standard_fen > 0", name="ck_project_standard"),
        CheckConstraint("end_on IS NULL OR end_on >= start_on", name="ck_project_dates"),
        Index("ix_project_status_industry", "status", "industry"),
        Index("ix_project_township", "township"),
    )

    id: int | None = Field(default=None, primary_key=True)
    project_code: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    name: str = Field(sa_column=Column(String(200), nullable=False))
    industry: str = Field(sa_column=Column(String(32), nullable=False))
    township: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    implementer: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    budget_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    standard_fen: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    start_on: dt.date
    end_on: dt.date | None = None
    status: str = Field(default="planned", sa_column=Column(String(16), nullable=False))
    performance_target: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    account_code: str = Field(sa_column=Column(String(200), nullable=False, unique=True))
    created_by: int = Field(sa_column=Column(Integer, ForeignKey("app_user.id"), nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))


class ProjectStatus(SQLModel, table=True):
    """A project's status history: append-only. The first row (from_status NULL) is its creation."""

    __tablename__ = "project_status"
    __table_args__ = (
        CheckConstraint(_one_of("to_status", PROJECT_STATUSES), name="ck_project_status_to"),
        CheckConstraint("from_status IS NULL OR " + _one_of("from_status", PROJECT_STATUSES),
                        name="ck_project_status_from"),
        Index("ix_project_status_project", "project_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(sa_column=Column(Integer, ForeignKey("project.id"), nullable=False))
    from_status: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))
    to_status: str = Field(sa_column=Column(String(16), nullable=False))
    changed_by: int = Field(sa_column=Column(Integer, ForeignKey("app_user.id"), nullable=False))
    changed_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))
    reason: str = Field(sa_column=Column(String(500), nullable=False))


class AllocationRequest(SQLModel, table=True):
    """资金安排申请: money from the pool to a project (allocation), or between two projects
    (reallocation, from `from_project_id`), in one fund. Prepared by one user, approved (and then
    posted: `entry_seq`) or rejected (with a reason) by another; a decided request never changes."""

    __tablename__ = "allocation_request"
    __table_args__ = (
        CheckConstraint(_one_of("kind", ALLOCATION_KINDS), name="ck_allocation_request_kind"),
        CheckConstraint(_one_of("status", ALLOCATION_STATUSES), name="ck_allocation_request_status"),
        CheckConstraint("amount_fen > 0", name="ck_allocation_request_amount"),
        CheckConstraint("(kind = 'allocation' AND from_project_id IS NULL) OR (kind = 'reallocation' AND "
                        "from_project_id IS NOT NULL AND from_project_id <> project_id)",
                        name="ck_allocation_request_from"),
        # Four eyes, in the database too: whoever decides did not prepare.
        CheckConstraint("decided_by IS NULL OR decided_by <> prepared_by", name="ck_allocation_request_four_eyes"),
        CheckConstraint(
            "(status = 'pending' AND decided_by IS NULL AND decided_at IS NULL AND entry_seq IS NULL) OR "
            "(status = 'approved' AND decided_by IS NOT NULL AND decided_at IS NOT NULL AND entry_seq IS NOT NULL) OR "
            "(status = 'rejected' AND decided_by IS NOT NULL AND decided_at IS NOT NULL AND entry_seq IS NULL "
            "AND reason IS NOT NULL)",
            name="ck_allocation_request_decision"),
        Index("ix_allocation_request_status", "status", "id"),
        Index("ix_allocation_request_project", "project_id"),
        Index("ix_allocation_request_from_project", "from_project_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(sa_column=Column(String(200), nullable=False, unique=True))
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    project_id: int = Field(sa_column=Column(Integer, ForeignKey("project.id"), nullable=False))
    from_project_id: int | None = Field(default=None, sa_column=Column(Integer, ForeignKey("project.id"),
                                                                      nullable=True))
    fund_id: int = Field(sa_column=Column(Integer, ForeignKey("fund.id"), nullable=False))
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    allocate_on: dt.date
    memo: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    status: str = Field(default="pending", sa_column=Column(String(16), nullable=False))
    prepared_by: int = Field(sa_column=Column(Integer, ForeignKey("app_user.id"), nullable=False))
    prepared_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))
    decided_by: int | None = Field(default=None, sa_column=Column(Integer, ForeignKey("app_user.id"), nullable=True))
    decided_at: dt.datetime | None = Field(default=None, sa_column=Column(DateTime, nullable=True))
    reason: str | None = Field(default=None, sa_column=Column(String(500), nullable=True))
    entry_seq: int | None = Field(default=None, sa_column=Column(Integer, ForeignKey("entry.seq"), nullable=True,
                                                                 unique=True))


# ---------------------------------------------------------------------------------------------
# Payment batches (发放批次 / 清册), DESIGN.md §4, §5. A batch is one project's roll of payments of
# one purpose: prepared (imported or entered) with declared control totals, disclosed (公示) for at
# least the configured number of days, approved by a user other than its preparer, which posts one
# entry per row. The bank's return marks rows paid or failed; a failed row is reversed and may be
# re-issued once (a new row naming it). History batches (already paid before the county adopted
# Huimin) are recorded as posted on their own dates, with no disclosure wait. Nothing is deleted.

PAYMENT_PURPOSES = ("subsidy", "wage", "in_kind", "advance")
BATCH_STATUSES = ("draft", "disclosed", "posted", "rejected")
PAYMENT_ROW_STATUSES = ("pending", "posted", "paid", "failed", "rejected")
WELFARE_POST_TYPES = ("general", "forest", "grassland", "road", "pv")
HISTORY_SOURCES = ("funds", "allocations", "payments")


class PaymentBatch(SQLModel, table=True):
    __tablename__ = "payment_batch"
    __table_args__ = (
        CheckConstraint(_one_of("purpose", PAYMENT_PURPOSES), name="ck_payment_batch_purpose"),
        CheckConstraint(_one_of("status", BATCH_STATUSES), name="ck_payment_batch_status"),
        CheckConstraint("declared_count >= 1 AND declared_total_fen >= 1", name="ck_payment_batch_declared"),
        CheckConstraint("decided_by IS NULL OR decided_by <> prepared_by", name="ck_payment_batch_four_eyes"),
        CheckConstraint("disclosure_days >= 0", name="ck_payment_batch_disclosure_days"),
        CheckConstraint("(disclosed_on IS NULL) = (disclosure_until IS NULL)", name="ck_payment_batch_disclosure"),
        CheckConstraint("status <> 'rejected' OR reason IS NOT NULL", name="ck_payment_batch_rejected"),
        Index("ix_payment_batch_project", "project_id", "id"),
        Index("ix_payment_batch_status", "status", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    batch_no: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    project_id: int = Field(sa_column=Column(Integer, ForeignKey("project.id"), nullable=False))
    purpose: str = Field(sa_column=Column(String(16), nullable=False))
    status: str = Field(default="draft", sa_column=Column(String(16), nullable=False))
    declared_count: int = Field(sa_column=Column(Integer, nullable=False))
    declared_total_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    memo: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    is_history: bool = Field(default=False)
    # A re-issue batch pays rows that were already disclosed once; it carries no new disclosure.
    is_reissue: bool = Field(default=False)
    source_sha256: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    prepared_by: int = Field(sa_column=Column(Integer, ForeignKey("app_user.id"), nullable=False))
    prepared_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))
    disclosure_days: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    disclosed_on: dt.date | None = None
    disclosure_until: dt.date | None = None  # the first day on which the batch may be approved
    disclosed_by: int | None = Field(default=None, sa_column=Column(Integer, ForeignKey("app_user.id"), nullable=True))
    decided_by: int | None = Field(default=None, sa_column=Column(Integer, ForeignKey("app_user.id"), nullable=True))
    decided_at: dt.datetime | None = Field(default=None, sa_column=Column(DateTime, nullable=True))
    reason: str | None = Field(default=None, sa_column=Column(String(500), nullable=True))


class PaymentRow(SQLModel, table=True):
    """One payee of a batch. `household_id` is NULL only for an advance to the implementer."""

    __tablename__ = "payment_row"
    __table_args__ = (
        CheckConstraint(_one_of("status", PAYMENT_ROW_STATUSES), name="ck_payment_row_status"),
        CheckConstraint("amount_fen > 0", name="ck_payment_row_amount"),
        CheckConstraint("quantity IS NULL OR quantity > 0", name="ck_payment_row_quantity"),
        CheckConstraint("unit_price_fen IS NULL OR unit_price_fen > 0", name="ck_payment_row_unit_price"),
        CheckConstraint("status NOT IN ('posted','paid','failed') OR entry_seq IS NOT NULL",
                        name="ck_payment_row_posted"),
        CheckConstraint("(status = 'failed') = (reversal_seq IS NOT NULL)", name="ck_payment_row_failed"),
        Index("ix_payment_row_batch", "batch_id", "id"),
        # The household statement is an index range on this, never a scan of the journal.
        Index("ix_payment_row_household", "household_id", "paid_on"),
        Index("ix_payment_row_payee", "payee_id_number"),
    )

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(sa_column=Column(Integer, ForeignKey("payment_batch.id"), nullable=False))
    ref: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    row_no: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))  # the officer's sheet row
    household_id: int | None = Field(default=None, sa_column=Column(Integer, ForeignKey("household.id"),
                                                                    nullable=True))
    payee_id_number: str | None = Field(default=None, sa_column=Column(String(18), nullable=True))
    payee_name: str = Field(sa_column=Column(String(200), nullable=False))
    bank_account: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    amount_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    paid_on: dt.date
    period: str | None = Field(default=None, sa_column=Column(String(7), nullable=True))  # 'YYYY-MM'
    item: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))  # in kind: what
    quantity: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    unit_price_fen: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    status: str = Field(default="pending", sa_column=Column(String(16), nullable=False))
    entry_seq: int | None = Field(default=None, sa_column=Column(Integer, ForeignKey("entry.seq"), nullable=True,
                                                                 unique=True))
    reversal_seq: int | None = Field(default=None, sa_column=Column(Integer, ForeignKey("entry.seq"), nullable=True,
                                                                    unique=True))
    bank_note: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    returned_on: dt.date | None = None
    # A re-issue names the failed row it pays again; unique, so a failed row is re-issued once.
    reissue_of: int | None = Field(default=None, sa_column=Column(Integer, ForeignKey("payment_row.id"),
                                                                  nullable=True, unique=True))


class WelfarePost(SQLModel, table=True):
    """公益性岗位: one post held by one person of one household, paid monthly from a project."""

    __tablename__ = "welfare_post"
    __table_args__ = (
        CheckConstraint(_one_of("post_type", WELFARE_POST_TYPES), name="ck_welfare_post_type"),
        CheckConstraint("monthly_wage_fen > 0", name="ck_welfare_post_wage"),
        CheckConstraint("end_on IS NULL OR end_on >= start_on", name="ck_welfare_post_dates"),
        # One post per household at a time: a household holds at most one post that has not ended.
        Index("uq_welfare_post_household_open", "household_id", unique=True,
              sqlite_where=text("end_on IS NULL"), postgresql_where=text("end_on IS NULL")),
        Index("ix_welfare_post_project", "project_id"),
        Index("ix_welfare_post_holder", "holder_id_number"),
    )

    id: int | None = Field(default=None, primary_key=True)
    post_no: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    post_type: str = Field(sa_column=Column(String(16), nullable=False))
    project_id: int = Field(sa_column=Column(Integer, ForeignKey("project.id"), nullable=False))
    household_id: int = Field(sa_column=Column(Integer, ForeignKey("household.id"), nullable=False))
    holder_id_number: str = Field(sa_column=Column(String(18), nullable=False))
    holder_name: str = Field(sa_column=Column(String(64), nullable=False))
    monthly_wage_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    start_on: dt.date
    end_on: dt.date | None = None
    end_reason: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    created_by: int = Field(sa_column=Column(Integer, ForeignKey("app_user.id"), nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))


class HistoryRecord(SQLModel, table=True):
    """An entry recorded as history (`huimin import KIND FILE --history --approved-by USER`): money
    received, allocated or paid before the county adopted Huimin, on its own date; the importer is
    its maker, the named approver its checker."""

    __tablename__ = "history_record"
    __table_args__ = (
        CheckConstraint(_one_of("source", HISTORY_SOURCES), name="ck_history_record_source"),
        CheckConstraint("approved_by <> recorded_by", name="ck_history_record_four_eyes"),
    )

    entry_seq: int = Field(sa_column=Column(Integer, ForeignKey("entry.seq"), primary_key=True,
                                            autoincrement=False))
    source: str = Field(sa_column=Column(String(16), nullable=False))
    file_sha256: str = Field(sa_column=Column(String(64), nullable=False))
    row_no: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    recorded_by: int = Field(sa_column=Column(Integer, ForeignKey("app_user.id"), nullable=False))
    approved_by: int = Field(sa_column=Column(Integer, ForeignKey("app_user.id"), nullable=False))
    recorded_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(DateTime, nullable=False))
