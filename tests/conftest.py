"""Test databases: every test that takes `engine` runs on SQLite, and on PostgreSQL too when
HUIMIN_TEST_POSTGRES_URL is set. Each test gets a fresh, migrated database: a SQLite file in
tmp_path, or a PostgreSQL database cloned from a template migrated once per session.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from ledger.db import make_engine, normalise_url
from ledger.migrate import upgrade

PG_URL = os.environ.get("HUIMIN_TEST_POSTGRES_URL")
LANES = ["sqlite"] + (["postgres"] if PG_URL else [])


def _admin_engine() -> Engine:
    assert PG_URL
    return create_engine(normalise_url(PG_URL), isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated PostgreSQL database to clone; dropped when the session ends."""
    if not PG_URL:
        pytest.skip("HUIMIN_TEST_POSTGRES_URL is not set")
    name = f"huimin_tpl_{uuid.uuid4().hex[:10]}"
    admin = _admin_engine()
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(normalise_url(PG_URL)).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    eng = make_engine(url)
    eng.dispose()
    yield name
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _fresh_pg(template: str) -> tuple[str, str]:
    name = f"huimin_t_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine()
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    admin.dispose()
    return name, make_url(normalise_url(PG_URL)).set(database=name).render_as_string(hide_password=False)


def _drop_pg(name: str) -> None:
    admin = _admin_engine()
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=LANES)
def db_url(request, tmp_path) -> Iterator[str]:
    """URL of a fresh migrated database, once per lane."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'huimin.db'}"
        upgrade(url)
        yield url
    else:
        template = request.getfixturevalue("pg_template")
        name, url = _fresh_pg(template)
        yield url
        _drop_pg(name)


@pytest.fixture
def engine(db_url) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def pg_engine(pg_template) -> Iterator[Engine]:
    """PostgreSQL only (tests of concurrency that SQLite serialises anyway)."""
    name, url = _fresh_pg(pg_template)
    eng = make_engine(url)
    yield eng
    eng.dispose()
    _drop_pg(name)
