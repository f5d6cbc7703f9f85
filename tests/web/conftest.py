"""Web fixtures: an app on a fresh database (both lanes), one user per role, signed-in clients
and bearer tokens. Passwords are fixed test values; nothing here is used outside tests.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from ledger import services, users
from ledger.permissions import SYSTEM

ROLES = ("finance_officer", "approver", "loan_officer", "inspector", "admin")
PASSWORD = "correct-horse-battery"


@dataclass
class World:
    app: object
    engine: object
    db_url: str
    tokens: dict[str, str]  # role -> bearer token
    user_ids: dict[str, int]

    def client(self) -> TestClient:
        return TestClient(self.app, base_url="http://testserver")

    def signed_in(self, role: str) -> TestClient:
        c = self.client()
        c.get("/login")
        r = c.post("/login", data={"username": role.replace("_", "-"), "password": PASSWORD,
                                   "csrf_token": c.cookies.get("huimin_prelogin"), "next": "/"})
        assert r.status_code == 200, r.text
        return c

    def api(self, role: str) -> TestClient:
        c = self.client()
        c.headers["Authorization"] = f"Bearer {self.tokens[role]}"
        return c


def seed_ledger(engine) -> None:
    services.register_fund(engine, SYSTEM, "CENTRAL", "中央财政衔接资金", "central", "财农〔2026〕1号")
    services.register_fund(engine, SYSTEM, "TJ-AID", "天津市东西部协作资金", "partner_aid")
    services.receive_fund(engine, SYSTEM, "seed-r1", "CENTRAL", 1_000_000_00, dt.date(2026, 1, 5), "中央资金到位")
    services.receive_fund(engine, SYSTEM, "seed-r2", "TJ-AID", 300_000_00, dt.date(2026, 1, 8), "天津援助到位")
    services.allocate(engine, SYSTEM, "seed-a1", "ROSE-2026", "CENTRAL", 400_000_00, dt.date(2026, 2, 1), "玫瑰花项目")
    services.allocate(engine, SYSTEM, "seed-a2", "ROSE-2026", "TJ-AID", 100_000_00, dt.date(2026, 2, 2), "玫瑰花项目")


@pytest.fixture
def world(db_url, monkeypatch) -> Iterator[World]:
    monkeypatch.setenv("HUIMIN_DATABASE_URL", db_url)
    from api.app import create_app
    from ledger.db import get_engine

    app = create_app(db_url)
    engine = get_engine(db_url)
    seed_ledger(engine)
    tokens, ids = {}, {}
    for role in ROLES:
        name = role.replace("_", "-")
        uid = users.create_user(engine, SYSTEM, name, role, PASSWORD, display_name=name)
        ids[role] = uid
        tokens[role] = users.issue_api_token(engine, users.Actor(uid, name, role), "test")
    yield World(app, engine, db_url, tokens, ids)
    engine.dispose()
