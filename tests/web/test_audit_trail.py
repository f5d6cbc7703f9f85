"""The audit trail as an inspector reads it: every user change, password change, export and API
write is there with actor, action, object and before/after; nothing can change or delete it.

The rows are read the way an inspector would: GET /api/v1/audit (JSON) and the /audit page with
its filters, never straight from the table (except to prove the table refuses edits).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError

from ledger import projects, users
from ledger.flows import transfer_income_account
from ledger.models import AppUser, AuditLog
from ledger.permissions import SYSTEM, Actor
from tests.web.conftest import PASSWORD


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch):
    """Argon2 at its cheapest for these tests (the production cost makes each `world` take ~1 s)."""
    monkeypatch.setattr(users, "_hasher", PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024,
                                                                     parallelism=1),)))


AUDIT = AuditLog.__table__
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
NEW_PASSWORD = "another-horse-battery"
DAY = "2026-03-01"
POOL = "Assets:Treasury:Pool"


def csrf_of(client) -> str:
    m = CSRF_RE.search(client.get("/").text)
    assert m
    return m.group(1)


def audit_rows(world, **params) -> list[dict]:
    """The inspector's view of the audit log (newest first), all pages."""
    api = world.api("inspector")
    out, page = [], 1
    while True:
        r = api.get("/api/v1/audit", params={**params, "page": page, "page_size": 200})
        assert r.status_code == 200, r.text
        body = r.json()
        out += body["items"]
        if page >= body["pages"]:
            return out
        page += 1


def the_row(world, **params) -> dict:
    rows = audit_rows(world, **params)
    assert len(rows) == 1, f"want one audit row for {params}, got {rows}"
    return rows[0]


def audit_count(world) -> int:
    with world.engine.connect() as c:
        return c.execute(select(func.count()).select_from(AUDIT)).scalar_one()


# ---------------------------------------------------------------------------------------------
# Users


def test_admin_creating_users_is_audited(world):
    admin = world.signed_in("admin")
    r = admin.post("/admin/users", data={"username": "page-made", "role": "approver", "password": PASSWORD,
                                         "display_name": "页面创建", "township": "木尕拉镇",
                                         "csrf_token": csrf_of(admin)}, follow_redirects=False)
    assert r.status_code == 303
    r = world.api("admin").post("/api/v1/users", json={"username": "api-made", "role": "loan_officer",
                                                       "password": PASSWORD, "display_name": "接口创建"})
    assert r.status_code == 201
    api_made_id = r.json()["id"]
    with world.engine.connect() as c:
        page_made_id = c.execute(select(AppUser.__table__.c.id).where(
            AppUser.__table__.c.username == "page-made")).scalar_one()

    rows = {row["object_id"]: row for row in audit_rows(world, action="users.create", actor="admin")}
    assert set(rows) == {str(page_made_id), str(api_made_id)}
    page_row, api_row = rows[str(page_made_id)], rows[str(api_made_id)]
    for row in (page_row, api_row):
        assert row["actor"] == "admin" and row["action"] == "users.create" and row["object_type"] == "user"
        assert row["before"] is None
        assert row["at"].endswith("Z")
    assert page_row["after"] == {"username": "page-made", "role": "approver", "township": "木尕拉镇",
                                 "display_name": "页面创建"}
    assert api_row["after"] == {"username": "api-made", "role": "loan_officer", "township": None,
                                "display_name": "接口创建"}

    # The /audit page, filtered the same way, shows both and nothing else.
    page = world.signed_in("inspector").get("/audit", params={"actor": "admin", "action": "users.create",
                                                              "object_type": "user"})
    assert page.status_code == 200
    shown = re.findall(r'<tr id="audit-row-(\d+)">', page.text)
    assert sorted(shown) == sorted(str(row["id"]) for row in rows.values())
    assert "页面创建" in page.text and "接口创建" in page.text and "users.create" in page.text
    # A filter that matches nothing shows nothing.
    empty = world.signed_in("inspector").get("/audit", params={"actor": "inspector", "action": "users.create"})
    assert 'id="audit-empty"' in empty.text


def test_activating_and_deactivating_users_is_audited_with_before_and_after(world):
    victim = users.create_user(world.engine, SYSTEM, "victim", "loan_officer", PASSWORD)
    admin = world.signed_in("admin")
    token = csrf_of(admin)
    assert admin.post(f"/admin/users/{victim}/deactivate", data={"csrf_token": token},
                      follow_redirects=False).status_code == 303
    assert admin.post(f"/admin/users/{victim}/activate", data={"csrf_token": token},
                      follow_redirects=False).status_code == 303
    off = the_row(world, action="users.deactivate")
    on = the_row(world, action="users.activate")
    assert (off["actor"], off["object_type"], off["object_id"]) == ("admin", "user", str(victim))
    assert (off["before"], off["after"]) == ({"is_active": True}, {"is_active": False})
    assert (on["before"], on["after"]) == ({"is_active": False}, {"is_active": True})


def test_a_password_change_is_audited_without_the_password(world):
    c = world.signed_in("loan_officer")
    r = c.post("/account/password", data={"current_password": PASSWORD, "new_password": NEW_PASSWORD,
                                          "confirm_password": NEW_PASSWORD, "csrf_token": csrf_of(c)})
    assert r.status_code == 200
    row = the_row(world, action="users.password_change")
    assert row["actor"] == "loan-officer" and row["object_type"] == "user"
    assert row["object_id"] == str(world.user_ids["loan_officer"])
    assert set(row["after"]) == {"password_changed_at"}
    # A refused change (wrong current password) is not a change.
    r = c.post("/account/password", data={"current_password": "wrong-wrong-wrong", "new_password": "x" * 12,
                                          "confirm_password": "x" * 12, "csrf_token": csrf_of(c)})
    assert r.status_code == 422
    assert len(audit_rows(world, action="users.password_change")) == 1
    # No password, and no password hash, is ever written to the audit log.
    with world.engine.connect() as conn:
        hashes = [h for h in conn.execute(select(AppUser.__table__.c.password_hash)).scalars() if h]
        texts = conn.execute(select(AUDIT.c.before, AUDIT.c.after)).all()
    blob = " ".join(str(t) for row in texts for t in row)
    for secret in [PASSWORD, NEW_PASSWORD, *hashes]:
        assert secret not in blob


# ---------------------------------------------------------------------------------------------
# Exports


EXPORTS = [
    ("journal", "/journal/export", "finance_officer"),
    ("trial_balance", "/trial-balance/export", "approver"),
    ("statement", f"/accounts/{POOL}/statement/export", "loan_officer"),
    ("audit", "/audit/export", "inspector"),
]


def test_each_export_is_audited(world):
    expected = []
    for list_name, url, role in EXPORTS:
        c = world.signed_in(role)
        for fmt in ("xlsx", "csv"):
            r = c.get(url, params={"format": fmt})
            assert r.status_code == 200, f"{url} {fmt}"
            name = re.search(r'filename="([^"]+)"', r.headers["content-disposition"]).group(1)
            assert name.startswith(f"huimin-{list_name}-") and name.endswith("." + fmt)
            data_rows = None
            if fmt == "csv":
                data_rows = len(list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))) - 1
            expected.append((list_name, fmt, role.replace("_", "-"), name, data_rows))
    # An admin reads the audit log too, and exports it.
    r = world.signed_in("admin").get("/audit/export", params={"format": "csv", "action": "export."})
    assert r.status_code == 200
    exported = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert {row["action 操作"] for row in exported} == {f"export.{n}" for n, *_ in EXPORTS}
    assert len(exported) == 8

    rows = audit_rows(world, action="export.")
    assert len(rows) == 9
    # The object is the file name (two exports of a list in the same second share it; the actor differs).
    rows_by_name = {(row["object_id"], row["actor"]): row for row in rows}
    for list_name, fmt, actor, name, data_rows in expected:
        row = rows_by_name[(name, actor)]
        assert row["action"] == f"export.{list_name}" and row["object_type"] == "export"
        assert row["after"]["format"] == fmt
        if data_rows is not None:
            assert row["after"]["rows"] == data_rows, f"{list_name} csv: audit says {row['after']['rows']} rows"
    admin_name = re.search(r'filename="([^"]+)"', r.headers["content-disposition"]).group(1)
    assert "action='export.'" in rows_by_name[(admin_name, "admin")]["after"]["params"]["filter"]
    statement = [row for row in rows if row["action"] == "export.statement"]
    assert all(row["after"]["params"]["code"] == POOL for row in statement)
    # The page filter finds them as well.
    page = world.signed_in("inspector").get("/audit", params={"object_type": "export"})
    assert len(re.findall(r'<tr id="audit-row-\d+">', page.text)) == 9


# ---------------------------------------------------------------------------------------------
# API writes


def test_api_writes_are_audited(world):
    fo = world.api("finance_officer")
    r = fo.post("/api/v1/funds", json={"code": "AUDIT-FUND", "name": "审计测试资金", "kind": "county",
                                       "document_no": "于财〔2026〕9号"})
    assert r.status_code == 201
    r = fo.post("/api/v1/funds/CENTRAL/receipts", json={"key": "audit-r", "amount": "250.00", "date": DAY,
                                                        "memo": "到位"}, headers={"Idempotency-Key": "audit-1"})
    assert r.status_code == 201
    receipt_seq = r.json()["seq"]
    n = audit_count(world)
    replay = fo.post("/api/v1/funds/CENTRAL/receipts", json={"key": "audit-r", "amount": "250.00", "date": DAY,
                                                             "memo": "到位"}, headers={"Idempotency-Key": "audit-1"})
    assert replay.headers.get("idempotent-replayed") == "true"
    assert audit_count(world) == n, "a replay is not a second write"
    # An allocation is a request by the finance officer, posted when another user approves it.
    approver = Actor(world.user_ids["approver"], "approver", "approver")
    projects.create_project(world.engine, SYSTEM, projects.ProjectIn("AUDIT-P1", "审计测试项目", "rose",
                                                                     dt.date(2026, 1, 1), 1_000_00))
    projects.change_project_status(world.engine, approver, "AUDIT-P1", "approved", "批复")
    projects.change_project_status(world.engine, SYSTEM, "AUDIT-P1", "implementing", "实施")
    r = fo.post("/api/v1/allocation-requests", json={"key": "audit-a", "project_code": "AUDIT-P1", "fund": "CENTRAL",
                                                     "amount": "100.00", "date": DAY})
    assert r.status_code == 201
    request_id = r.json()["id"]
    r = world.api("approver").post(f"/api/v1/allocation-requests/{request_id}/approve")
    assert r.status_code == 200
    alloc_seq = r.json()["entry_seq"]
    r = fo.post(f"/api/v1/entries/{receipt_seq}/reversal", json={"key": "audit-x", "date": DAY})
    assert r.status_code == 201
    reversal_seq = r.json()["seq"]
    assert fo.post("/api/v1/tokens", json={"name": "audit-token"}).status_code == 201
    assert world.api("inspector").post("/api/v1/verify").status_code == 200

    fund = the_row(world, action="fund.register", actor="finance-officer")
    assert (fund["object_type"], fund["object_id"]) == ("fund", "AUDIT-FUND")
    assert fund["after"] == {"code": "AUDIT-FUND", "name": "审计测试资金", "kind": "county",
                             "document_no": "于财〔2026〕9号"}
    receipt = the_row(world, action="fund.receive", actor="finance-officer")
    assert (receipt["object_type"], receipt["object_id"]) == ("entry", str(receipt_seq))
    assert receipt["after"]["key"] == "audit-r" and receipt["after"]["kind"] == "fund_received"
    assert receipt["after"]["date"] == DAY
    assert sorted(receipt["after"]["postings"]) == sorted([[POOL, "CENTRAL", "250.00"],
                                                           [transfer_income_account("CENTRAL"), "CENTRAL", "-250.00"]])
    prepared = the_row(world, action="allocation.prepare", actor="finance-officer")
    assert prepared["object_id"] == str(request_id) and prepared["after"]["key"] == "audit-a"
    alloc = the_row(world, action="allocation.approve", actor="approver")
    assert alloc["object_id"] == str(request_id) and alloc["after"]["entry"] == alloc_seq
    assert (alloc["after"]["maker_id"], alloc["after"]["checker_id"]) == (world.user_ids["finance_officer"],
                                                                          world.user_ids["approver"])
    reversal = the_row(world, action="journal.reverse")
    assert reversal["actor"] == "finance-officer" and reversal["object_id"] == str(reversal_seq)
    assert reversal["after"]["kind"] == "reversal"
    # The reversal's postings are the receipt's, mirrored.
    mirrored = sorted([a, f, (v[1:] if v.startswith("-") else "-" + v)] for a, f, v in receipt["after"]["postings"])
    assert sorted(reversal["after"]["postings"]) == mirrored
    [token] = [t for t in audit_rows(world, action="tokens.issue", actor="finance-officer")
               if t["after"] == {"name": "audit-token"}]
    assert token["object_type"] == "api_token" and token["object_id"].isdigit()
    assert "hm_" not in str(token), "the token itself is never audited"
    verify = the_row(world, action="journal.verify", actor="inspector")
    assert verify["after"]["ok"] is True
    # Refused writes are not writes.
    n = audit_count(world)
    assert world.api("approver").post("/api/v1/funds/CENTRAL/receipts", json={"key": "no", "amount": "1.00",
                                                                              "date": DAY}).status_code == 403
    assert audit_count(world) == n


# ---------------------------------------------------------------------------------------------
# Append-only


def test_the_database_refuses_to_edit_the_audit_log(world):
    world.api("admin").post("/api/v1/users", json={"username": "someone", "role": "approver", "password": PASSWORD})
    with world.engine.connect() as c:
        first = c.execute(select(AUDIT).order_by(AUDIT.c.id)).first()
        total = c.execute(select(func.count()).select_from(AUDIT)).scalar_one()
    attempts = [
        update(AUDIT).where(AUDIT.c.id == first.id).values(action="tampered"),
        update(AUDIT).values(after=None),
        delete(AUDIT).where(AUDIT.c.id == first.id),
        delete(AUDIT),
    ]
    if world.engine.dialect.name == "postgresql":
        attempts.append(text("TRUNCATE audit_log"))
    for stmt in attempts:
        with pytest.raises(DBAPIError, match="append-only"):
            with world.engine.begin() as c:
                c.execute(stmt)
    with world.engine.connect() as c:
        assert c.execute(select(AUDIT).order_by(AUDIT.c.id)).first() == first
        assert c.execute(select(func.count()).select_from(AUDIT)).scalar_one() == total


def test_no_route_changes_the_audit_log(world):
    from tests.web.test_permissions import registered_routes

    writes = sorted((m, p) for m, p in registered_routes(world.app) if m not in ("GET", "HEAD", "OPTIONS"))
    assert not [w for w in writes if "audit" in w[1]], f"a route that writes the audit log: {writes}"
    n = audit_count(world)
    with world.engine.connect() as c:
        before = c.execute(select(AUDIT).order_by(AUDIT.c.id)).all()
    for role in ("inspector", "admin"):
        api = world.api(role)
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            for url in ("/api/v1/audit", "/api/v1/audit/1"):
                r = api.request(method, url, json={"action": "tampered"})
                assert r.status_code in (404, 405), f"{method} {url} as {role}: {r.status_code}"
        page = world.signed_in(role)
        token = csrf_of(page)
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            for url in ("/audit", "/audit/1", "/audit/export"):
                r = page.request(method, url, data={"csrf_token": token}, follow_redirects=False)
                assert r.status_code in (404, 405), f"{method} {url} as {role}: {r.status_code}"
    with world.engine.connect() as c:
        after = c.execute(select(AUDIT).order_by(AUDIT.c.id)).all()
    assert after[:n] == before, "an existing audit row changed"
    assert all(row.action in ("auth.login",) for row in after[n:]), "only the sign-ins were added"
