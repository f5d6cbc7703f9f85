"""The models and the Alembic migrations describe the same schema; `huimin db upgrade` is idempotent."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

import ledger.models  # noqa: F401  (registers every table on SQLModel.metadata)
from ledger.db import make_engine, normalise_url
from ledger.migrate import alembic_config, upgrade
from tests.conftest import LANES, PG_URL, _admin_engine
from tests.helpers import huimin_cmd


def db_upgrade(url: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, HUIMIN_DATABASE_URL=url)
    return subprocess.run([*huimin_cmd(), "db", "upgrade"], env=env, capture_output=True, text=True, timeout=120)


def head_revision(url: str) -> str:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def state(engine) -> dict:
    # One connection for everything: on SQLite each connection begins IMMEDIATE (takes the write lock).
    with engine.connect() as c:
        return {
            "version": c.execute(text("SELECT version_num FROM alembic_version")).scalars().all(),
            "head": c.execute(text("SELECT id, seq, hash FROM journal_head")).all(),
            "users": c.execute(text("SELECT id, username, role FROM app_user ORDER BY id")).all(),
            "tables": sorted(inspect(c).get_table_names()),
        }


def test_models_and_migrations_agree(engine):
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diffs == [], "models.py and migrations/ disagree; add a migration:\n" + "\n".join(map(str, diffs))


def test_migrations_reach_the_head_and_seed_once(engine, db_url):
    s = state(engine)
    assert s["version"] == [head_revision(db_url)]
    assert s["head"] == [(1, 0, "0" * 64)]
    assert s["users"] == [(1, "system", "system")]
    assert {"account", "fund", "entry", "posting", "balance", "journal_head", "audit_log", "period_close"} <= set(
        s["tables"])


def test_db_upgrade_is_idempotent(engine, db_url):
    before = state(engine)  # the fixture has already upgraded this database once
    out = db_upgrade(db_url)
    assert out.returncode == 0, out.stderr
    assert state(engine) == before


def test_db_upgrade_creates_then_leaves_a_new_sqlite_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    first = db_upgrade(url)
    assert first.returncode == 0, first.stderr
    engine = make_engine(url)
    try:
        before = state(engine)
        second = db_upgrade(url)
        assert second.returncode == 0, second.stderr
        assert state(engine) == before
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), SQLModel.metadata) == []
    finally:
        engine.dispose()


@pytest.fixture(params=LANES)
def empty_db_url(request, tmp_path) -> Iterator[str]:
    """An empty database (no revision yet), once per lane, for tests that migrate step by step."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    name = f"huimin_e_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine()
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(normalise_url(PG_URL)).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_0007_rewrites_a_township_code_to_its_name(empty_db_url):
    """Projects and users stored with a township's code (before the services kept names) get its name;
    a value that is also a township's name, a county-wide NULL and an unregistered value stay."""
    url = empty_db_url
    upgrade(url, "0006")
    eng = make_engine(url)
    with eng.begin() as c:
        c.execute(text("INSERT INTO township (code, name, kind, created_at) VALUES "
                       "('AQ', '阿羌乡', 'xiang', :at), ('MGL', '木尕拉镇', 'zhen', :at), "
                       "('X', 'AQ2', 'xiang', :at), ('AQ2', '乔克乡', 'xiang', :at)"),
                  {"at": "2026-01-01 00:00:00"})
        for username, township in (("by-code", "AQ"), ("by-name", "木尕拉镇"), ("county", None),
                                   ("unregistered", "新乡"), ("name-wins", "AQ2")):
            c.execute(text("INSERT INTO app_user (username, display_name, role, township, is_active, created_at) "
                           "VALUES (:u, '', 'finance_officer', :t, :a, '2026-01-01 00:00:00')"),
                      {"u": username, "t": township, "a": True})
        c.execute(text("INSERT INTO project (project_code, name, industry, township, budget_fen, start_on, status, "
                       "account_code, created_by, created_at, performance_target) VALUES ('P1', 'p', 'rose', 'MGL', "
                       "0, '2026-01-01', 'planned', 'Assets:Project:P1', 1, '2026-01-01 00:00:00', '')"))
    eng.dispose()
    upgrade(url)
    eng = make_engine(url)
    with eng.connect() as c:
        users = dict(c.execute(text("SELECT username, township FROM app_user WHERE id > 1")).all())
        project = c.execute(text("SELECT township FROM project WHERE project_code = 'P1'")).scalar_one()
    eng.dispose()
    assert users == {"by-code": "阿羌乡", "by-name": "木尕拉镇", "county": None, "unregistered": "新乡",
                     "name-wins": "AQ2"}
    assert project == "木尕拉镇"
