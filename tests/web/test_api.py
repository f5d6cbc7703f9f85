"""JSON API behaviours: Idempotency-Key, decimal-string amounts, the trial-balance shape, paging
bounds and the error shape."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from fastapi.testclient import TestClient
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import func, select

from ledger import idempotency, services, users
from ledger.flows import transfer_income_account
from ledger.models import Entry
from ledger.permissions import SYSTEM, Actor
from tests.web.conftest import PASSWORD


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch):
    """Argon2 at its cheapest for these tests (the production cost makes each `world` take ~1 s)."""
    monkeypatch.setattr(users, "_hasher", PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024,
                                                                     parallelism=1),)))


DAY = "2026-03-01"
RECEIPTS = "/api/v1/funds/CENTRAL/receipts"
YUAN = re.compile(r"^-?[0-9]+\.[0-9]{2}$")


def entries(world) -> int:
    with world.engine.connect() as c:
        return c.execute(select(func.count()).select_from(Entry.__table__)).scalar_one()


def receipt(key: str, amount: str = "10.00", memo: str = "") -> dict:
    return {"key": key, "amount": amount, "date": DAY, "memo": memo}


# ---------------------------------------------------------------------------------------------
# Idempotency-Key


def test_a_repeat_with_the_same_key_returns_the_first_result_and_posts_once(world):
    fo = world.api("finance_officer")
    n = entries(world)
    first = fo.post(RECEIPTS, json=receipt("idem-1", "88.80", "第一次"), headers={"Idempotency-Key": "req-1"})
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    again = fo.post(RECEIPTS, json=receipt("idem-1", "88.80", "第一次"), headers={"Idempotency-Key": "req-1"})
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    # Key order and white space do not make another request.
    reordered = '{ "memo": "第一次", "date": "2026-03-01", "amount": "88.80", "key": "idem-1" }'
    third = fo.post(RECEIPTS, content=reordered.encode(), headers={"Idempotency-Key": "req-1",
                                                                   "Content-Type": "application/json"})
    assert third.status_code == 201 and third.json() == first.json()
    assert entries(world) == n + 1
    assert first.json()["created"] is True and first.json()["hash"]


def test_the_same_key_with_another_request_is_409(world):
    fo = world.api("finance_officer")
    assert fo.post(RECEIPTS, json=receipt("idem-2"), headers={"Idempotency-Key": "req-2"}).status_code == 201
    n = entries(world)
    other_body = fo.post(RECEIPTS, json=receipt("idem-2b"), headers={"Idempotency-Key": "req-2"})
    assert other_body.status_code == 409 and "req-2" in other_body.json()["detail"]
    other_path = fo.post("/api/v1/allocation-requests", json={"key": "idem-2c", "project_code": "ROSE-2026",
                                                              "fund": "CENTRAL", "amount": "1.00", "date": DAY},
                         headers={"Idempotency-Key": "req-2"})
    assert other_path.status_code == 409
    assert entries(world) == n


def test_different_users_use_the_same_key_independently(world):
    uid = users.create_user(world.engine, SYSTEM, "finance-two", "finance_officer", PASSWORD)
    second = world.client()
    second.headers["Authorization"] = "Bearer " + users.issue_api_token(
        world.engine, Actor(uid, "finance-two", "finance_officer"), "t")
    fo = world.api("finance_officer")
    a = fo.post(RECEIPTS, json=receipt("by-one"), headers={"Idempotency-Key": "shared"})
    b = second.post(RECEIPTS, json=receipt("by-two"), headers={"Idempotency-Key": "shared"})
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["seq"] != b.json()["seq"] and "idempotent-replayed" not in b.headers
    # Each user's replay is their own.
    assert fo.post(RECEIPTS, json=receipt("by-one"), headers={"Idempotency-Key": "shared"}).json() == a.json()
    # Even with the same body: one user's key is not another's answer.
    c = world.api("inspector").post("/api/v1/tokens", json={"name": "x"}, headers={"Idempotency-Key": "shared"})
    assert c.status_code == 201 and c.json()["token"]


def test_refusals_are_replayed_and_secrets_are_not_kept(world):
    fo = world.api("finance_officer")
    missing = fo.post("/api/v1/funds/NOPE/receipts", json=receipt("idem-3"), headers={"Idempotency-Key": "req-3"})
    assert missing.status_code == 404
    # Registering the fund afterwards does not change the kept answer to this request.
    assert fo.post("/api/v1/funds", json={"code": "NOPE", "name": "后来的", "kind": "county"}).status_code == 201
    again = fo.post("/api/v1/funds/NOPE/receipts", json=receipt("idem-3"), headers={"Idempotency-Key": "req-3"})
    assert again.status_code == 404 and again.json() == missing.json()
    assert again.headers["idempotent-replayed"] == "true"
    # A bearer token is shown once: its replay says null.
    t1 = fo.post("/api/v1/tokens", json={"name": "ci"}, headers={"Idempotency-Key": "tok-1"})
    t2 = fo.post("/api/v1/tokens", json={"name": "ci"}, headers={"Idempotency-Key": "tok-1"})
    assert t1.status_code == t2.status_code == 201
    assert t1.json()["token"].startswith("hm_") and t2.json() == {"name": "ci", "token": None}
    ok = world.client()
    ok.headers["Authorization"] = "Bearer " + t1.json()["token"]
    assert ok.get("/api/v1/me").json()["role"] == "finance_officer"


def test_a_repeat_while_the_first_still_runs_is_409_and_a_server_error_is_not_kept(world, monkeypatch):
    fo = world.api("finance_officer")
    body = receipt("idem-4")
    request_hash = idempotency.fingerprint("POST", RECEIPTS, json.dumps(body).encode())
    reserved = idempotency.begin(world.engine, world.user_ids["finance_officer"], "req-4", "POST", RECEIPTS,
                                 request_hash)
    assert isinstance(reserved, idempotency.Reserved)
    r = fo.post(RECEIPTS, json=body, headers={"Idempotency-Key": "req-4"})
    assert r.status_code == 409 and "still being processed" in r.json()["detail"]
    idempotency.abandon(world.engine, reserved)

    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("database went away")

    real = services.receive_fund
    monkeypatch.setattr(services, "receive_fund", broken)
    crashing = TestClient(world.app, raise_server_exceptions=False)
    crashing.headers.update(fo.headers)
    assert crashing.post(RECEIPTS, json=body, headers={"Idempotency-Key": "req-4"}).status_code == 500
    monkeypatch.setattr(services, "receive_fund", real)
    retry = fo.post(RECEIPTS, json=body, headers={"Idempotency-Key": "req-4"})
    assert retry.status_code == 201 and "idempotent-replayed" not in retry.headers
    assert calls == [1]


def test_an_unusable_idempotency_key_is_422_naming_the_header(world):
    fo = world.api("finance_officer")
    for key in ["", "has space", "ünïcode".encode(), "tab\tin", "x" * 201]:
        r = fo.post(RECEIPTS, json=receipt("idem-5"), headers={"Idempotency-Key": key})
        assert r.status_code == 422, key
        assert [e["column"] for e in r.json()["errors"]] == ["header.Idempotency-Key"], key
    assert fo.post(RECEIPTS, json=receipt("idem-5"), headers={"Idempotency-Key": "x" * 200}).status_code == 201


def test_without_a_key_the_business_key_still_makes_posting_idempotent(world):
    fo = world.api("finance_officer")
    first = fo.post(RECEIPTS, json=receipt("biz-1", "5.00"))
    again = fo.post(RECEIPTS, json=receipt("biz-1", "5.00"))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["seq"] == first.json()["seq"] and again.json()["created"] is False
    changed = fo.post(RECEIPTS, json=receipt("biz-1", "6.00"))
    assert changed.status_code == 422
    assert changed.json()["ok"] is False and changed.json()["errors"][0]["column"] == "key"


# ---------------------------------------------------------------------------------------------
# Amounts


NOT_AMOUNTS = [12.5, 12, 0.1, True, None, "12.345", "1,000.00", "0", "0.00", "-5.00", "1e3", " 12.00", "12.", ".5",
               "¥12", "12345678901234.00"]


def test_amounts_are_decimal_strings_anything_else_is_422_naming_the_field(world):
    fo = world.api("finance_officer")
    n = entries(world)
    for amount in NOT_AMOUNTS:
        r = fo.post(RECEIPTS, json={**receipt("amt"), "amount": amount})
        assert r.status_code == 422, (amount, r.text)
        body = r.json()
        assert body["ok"] is False
        assert {e["column"] for e in body["errors"]} == {"body.amount"}, amount
        assert all(set(e) >= {"row", "column", "value", "message"} for e in body["errors"])
        r = fo.post("/api/v1/allocation-requests", json={"key": "amt-a", "project_code": "ROSE-2026",
                                                         "fund": "CENTRAL", "amount": amount, "date": DAY})
        assert r.status_code == 422 and {e["column"] for e in r.json()["errors"]} == {"body.amount"}, amount
    assert entries(world) == n
    # The smallest and the largest amounts are accepted.
    assert fo.post(RECEIPTS, json=receipt("amt-min", "0.01")).status_code == 201
    assert fo.post(RECEIPTS, json=receipt("amt-max", "9999999999999.99")).status_code == 201


def test_amounts_come_out_as_decimal_strings(world):
    fo = world.api("finance_officer")
    assert fo.post(RECEIPTS, json=receipt("cents", "0.05")).status_code == 201
    assert fo.post(RECEIPTS, json=receipt("big", "1234567890123.45")).status_code == 201
    items = fo.get("/api/v1/journal", params={"page_size": 200}).json()["items"]
    amounts = {i["key"]: i["amount"] for i in items}
    assert amounts["cents"] == "0.05" and amounts["big"] == "1234567890123.45" and amounts["seed-r1"] == "1000000.00"
    assert all(isinstance(a, str) and YUAN.match(a) for a in amounts.values())
    seq = next(i["seq"] for i in items if i["key"] == "cents")
    postings = fo.get(f"/api/v1/journal/{seq}").json()["postings"]
    assert sorted(p["amount"] for p in postings) == ["-0.05", "0.05"]
    st = fo.get("/api/v1/accounts/Assets:Treasury:Pool/statement").json()
    money = [st["opening_balance"], st["closing_balance"]] + [b["balance"] for b in st["account"]["balances"]]
    money += [x for ln in st["lines"] for x in (ln["amount"], ln["balance"])]
    assert money and all(isinstance(a, str) and YUAN.match(a) for a in money)


# ---------------------------------------------------------------------------------------------
# Trial balance, paging, errors


def test_trial_balance_shape(world):
    api = world.api("approver")
    r = api.get("/api/v1/trial-balance")
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"as_of", "rows"}
    assert body["as_of"] == dt.date.today().isoformat()
    assert body["rows"] and all(set(row) == {"account", "fund", "balance"} for row in body["rows"])
    assert all(isinstance(row["balance"], str) and YUAN.match(row["balance"]) for row in body["rows"])
    # Debit positive; each fund balances to zero; no zero rows.
    for fund in {row["fund"] for row in body["rows"]}:
        assert sum(int(row["balance"].replace(".", "")) for row in body["rows"] if row["fund"] == fund) == 0
    assert all(row["balance"] not in ("0.00", "-0.00") for row in body["rows"])
    pool = {row["fund"]: row["balance"] for row in body["rows"] if row["account"] == "Assets:Treasury:Pool"}
    assert pool == {"CENTRAL": "600000.00", "TJ-AID": "200000.00"}
    # As of a day: only what was effective by then.
    early = api.get("/api/v1/trial-balance", params={"as_of": "2026-01-06"}).json()
    assert early["as_of"] == "2026-01-06"
    assert {(row["account"], row["fund"], row["balance"]) for row in early["rows"]} == {
        ("Assets:Treasury:Pool", "CENTRAL", "1000000.00"),
        (transfer_income_account("CENTRAL"), "CENTRAL", "-1000000.00")}
    for bad in ("2026-13-01", "20260101", "1700000000", "1899-12-31"):
        r = api.get("/api/v1/trial-balance", params={"as_of": bad})
        assert r.status_code == 422 and r.json()["errors"][0]["column"] == "query.as_of", bad


def test_paging_bounds(world):
    api = world.api("inspector")
    r = api.get("/api/v1/journal", params={"page_size": 200})
    assert r.status_code == 200 and r.json()["page_size"] == 200
    for params, column in [({"page_size": 201}, "query.page_size"), ({"page_size": 0}, "query.page_size"),
                           ({"page": 0}, "query.page"), ({"page": 1_000_001}, "query.page"),
                           ({"page_size": "ten"}, "query.page_size")]:
        for url in ("/api/v1/journal", "/api/v1/audit", "/api/v1/accounts/Assets:Treasury:Pool/statement"):
            r = api.get(url, params=params)
            assert r.status_code == 422, (url, params)
            assert [e["column"] for e in r.json()["errors"]] == [column]
    # Past the last page: an empty page, not an error; `pages` says how many there are.
    body = api.get("/api/v1/journal", params={"page": 999}).json()
    assert body["items"] == [] and body["page"] == 999 and body["pages"] == 1 and body["total"] == 4
    body = api.get("/api/v1/journal", params={"page_size": 3, "page": 2}).json()
    assert (len(body["items"]), body["pages"], body["total"]) == (1, 2, 4)
    assert [i["seq"] for i in body["items"]] == [1]  # newest first


def test_error_shapes(world):
    fo = world.api("finance_officer")
    r = fo.get("/api/v1/journal/999999")
    assert r.status_code == 404 and r.json() == {"detail": "no entry 999999"}
    r = fo.get("/api/v1/journal", params={"date_from": "2026-02-01", "date_to": "2026-01-01"})
    assert r.status_code == 422 and r.json()["errors"][0]["column"] == "query.date_to"
    r = fo.post(RECEIPTS, json={**receipt("extra"), "surprise": 1})
    assert r.status_code == 422 and r.json()["errors"][0]["column"] == "body.surprise"
    r = fo.post(RECEIPTS, json={**receipt("ctl"), "memo": "a\x00b"})
    assert r.status_code == 422 and r.json()["errors"][0]["column"] == "body.memo"
    r = world.api("approver").post(RECEIPTS, json=receipt("denied"))
    assert r.status_code == 403 and r.json() == {"detail": "forbidden", "permission": "fund.receive"}
