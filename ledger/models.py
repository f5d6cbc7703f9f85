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
