"""Database engines: SQLite (default, WAL, foreign keys, busy timeout) and PostgreSQL (psycopg).

Owns how a connection is opened and how a write transaction begins. On SQLite every write
transaction is `BEGIN IMMEDIATE`, so two writers queue on the busy timeout instead of failing
with a lock upgrade deadlock halfway through a posting.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session

from ledger.settings import get_settings


def normalise_url(url: str) -> str:
    # Officers paste "postgresql://…"; we always drive PostgreSQL through psycopg 3.
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("postgres://"):
        return "postgresql+psycopg://" + url[len("postgres://") :]
    return url


def is_sqlite(engine_or_url: Engine | str) -> bool:
    url = engine_or_url if isinstance(engine_or_url, str) else str(engine_or_url.url)
    return url.startswith("sqlite")


def make_engine(url: str | None = None) -> Engine:
    settings = get_settings()
    url = normalise_url(url or settings.database_url)
    if is_sqlite(url):
        engine = create_engine(
            url,
            connect_args={"timeout": settings.sqlite_busy_timeout_ms / 1000, "check_same_thread": False},
        )
        busy_ms = int(settings.sqlite_busy_timeout_ms)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            # Take transaction control away from the driver so that we can say BEGIN IMMEDIATE.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={busy_ms}")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # type: ignore[no-untyped-def]
            # Reads may share the database (WAL); anything that may write takes the lock up front.
            if conn.get_execution_options().get("huimin_readonly"):
                conn.exec_driver_sql("PRAGMA temp_store=DEFAULT")
                conn.exec_driver_sql("BEGIN")
            else:
                # Every journal row runs triggers that may abort it, so SQLite keeps a statement
                # journal per row (and one for thousands of rows in a seal). Kept in memory they
                # cost little; as temporary files they cost more than the inserts. SQLite fixes
                # this when the write transaction begins. Durability is untouched (WAL, synchronous).
                conn.exec_driver_sql("PRAGMA temp_store=MEMORY")
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True)


_engines: dict[str, Engine] = {}


def get_engine(url: str | None = None) -> Engine:
    key = normalise_url(url or get_settings().database_url)
    if key not in _engines:
        _engines[key] = make_engine(key)
    return _engines[key]


@contextmanager
def read_only(engine: Engine) -> Iterator[Session]:
    """A session for queries: never takes SQLite's write lock; rolled back at the end.

    All its statements see one snapshot. SQLite gives that in WAL (a read transaction keeps the
    snapshot of its first read); PostgreSQL needs REPEATABLE READ, or a verify, an export or an
    as-of balance would mix tables read before and after another officer's commit.
    """
    options: dict = {"huimin_readonly": True}
    if engine.dialect.name == "postgresql":
        options["isolation_level"] = "REPEATABLE READ"
    with Session(engine.execution_options(**options)) as session:
        try:
            yield session
        finally:
            session.rollback()


_rehearsing: contextvars.ContextVar[bool] = contextvars.ContextVar("huimin_rehearsal", default=False)


@contextmanager
def rehearsal() -> Iterator[None]:
    """Run use cases for real (every check, trigger and constraint) but commit none of them.

    `--dry-run` imports use it: the officer sees exactly what the import would say, down to the
    database's own refusals, and nothing is written.
    """
    token = _rehearsing.set(True)
    try:
        yield
    finally:
        _rehearsing.reset(token)


@contextmanager
def unit_of_work(engine: Engine) -> Iterator[Session]:
    """One use case, one transaction: commit on success (not in a rehearsal), roll back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            if _rehearsing.get():
                session.rollback()
            else:
                session.commit()
        except BaseException:
            session.rollback()
            raise
