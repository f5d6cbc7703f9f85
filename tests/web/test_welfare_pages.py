"""Public-welfare post pages and the in-kind advance aging (web.welfare_pages) per role, both lanes: the
roster (filters, htmx partial, ID masking, export with audit), the roster upload on the import page, the
wage-roll form (CSRF, redirect to the new batch, a second generation said on the page, refusals listed),
/advances with its buckets, the JSON API, and both languages."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from openpyxl import load_workbook
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import func, select

from ledger import payments, users
from ledger.ids import mask_id
from ledger.models import AuditLog, PaymentBatch
from ledger.permissions import SYSTEM, Actor
from tests.web.payment_seed import PROJECT, head_name, hh_no, rid, seed_county
from tests.web.welfare_seed import WELFARE_PROJECT, seed_posts

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
AUDIT, BATCH = AuditLog.__table__, PaymentBatch.__table__


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch):
    monkeypatch.setattr(users, "_hasher", PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024,
                                                                     parallelism=1),)))


def csrf_of(client) -> str:
    m = CSRF_RE.search(client.get("/").text)
    assert m
    return m.group(1)


def count(engine, table, *where) -> int:
    with engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


@pytest.fixture
def roster(world):
    """payment_seed's county (PAY-001..PAY-004, PAY-ROSE with implementer 玫瑰合作社) and one forest-ranger
    post held by PAY-001's head since 1 January 2026; an advance of ¥500.00 to PAY-ROSE's implementer on
    1 March 2026."""
    seed_county(world)
    seed_posts(world, hh_no(1), rid(1), head_name(1))
    fo = Actor(world.user_ids["finance_officer"], "finance-officer", "finance_officer")
    ap = Actor(world.user_ids["approver"], "approver", "approver")
    payments.prepare_advance(world.engine, fo, "ADV-1", "ADV-1", PROJECT, 500_00, dt.date(2026, 3, 1), "种苗预付款")
    payments.approve_batch(world.engine, ap, "ADV-1", today=dt.date(2026, 3, 1))
    return world


def test_roster_page_per_role(roster):
    world = roster
    fo = world.signed_in("finance_officer")
    r = fo.get("/posts")
    assert r.status_code == 200
    assert "公益性岗位" in r.text and "MP-001" in r.text and rid(1) in r.text
    assert 'id="wage-roll-form"' in r.text and WELFARE_PROJECT in r.text  # the finance officer rolls wages
    assert 'href="/posts"' in r.text and 'id="nav-posts"' in r.text and 'id="nav-advances"' in r.text
    ap = world.signed_in("approver")
    r = ap.get("/posts")
    assert r.status_code == 200 and "MP-001" in r.text
    assert rid(1) not in r.text and mask_id(rid(1)) in r.text  # the approver sees the 公示 form
    assert 'id="wage-roll-form"' not in r.text
    assert world.signed_in("inspector").get("/posts").status_code == 200
    for role in ("loan_officer", "admin"):
        page = world.signed_in(role)
        assert page.get("/posts").status_code == 403
        assert 'id="nav-posts"' not in page.get("/").text
    # Filters, and the htmx partial (no page around it) with the canonical address.
    r = fo.get("/posts?post_type=road")
    assert r.status_code == 200 and "MP-001" not in r.text
    r = fo.get("/posts?post_type=forest&active=yes&as_of=2026-02-01", headers={"HX-Request": "true"})
    assert r.status_code == 200 and "<html" not in r.text and "MP-001" in r.text
    assert r.headers["hx-push-url"] == "/posts?post_type=forest&active=yes&as_of=2026-02-01"
    assert fo.get("/posts?active=yes&as_of=2025-12-31").text.count('class="post-row"') == 0
    assert fo.get("/posts?post_type=ranger").status_code == 422
    assert fo.get("/posts?as_of=2026-02-30").status_code == 422


def test_roster_export_is_audited_and_masked_for_the_approver(roster):
    world = roster
    r = world.signed_in("approver").get("/posts/export?format=xlsx")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    ws = load_workbook(io.BytesIO(r.content)).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[1][0] == "MP-001" and rows[1][7] == mask_id(rid(1))
    assert count(world.engine, AUDIT, AUDIT.c.action == "export.posts") == 1
    csv = world.signed_in("finance_officer").get("/posts/export?format=csv")
    assert csv.status_code == 200 and rid(1) in csv.content.decode("utf-8-sig")
    assert world.signed_in("finance_officer").get("/posts/export?format=pdf").status_code == 422


def test_roster_upload_on_the_import_page(roster):
    world = roster
    fo = world.signed_in("finance_officer")
    form = fo.get("/registry/import").text
    assert 'value="posts"' in form
    assert 'value="posts"' not in world.signed_in("approver").get("/posts").text  # (no import form there)
    sheet = ("岗位编号,岗位类型,项目编号,户编号,身份证号,姓名,月工资,上岗日期,离岗日期\n"
             f"MP-002,护路员,{WELFARE_PROJECT},{hh_no(2)},{rid(2)},{head_name(2)},650,2026-02-01,\n"
             f"MP-003,护路员,{WELFARE_PROJECT},{hh_no(1)},{rid(1)},{head_name(1)},650,2026-02-01,\n").encode()
    r = fo.post("/registry/import", data={"kind": "posts", "csrf_token": csrf_of(fo)},
                files={"file": ("posts.csv", sheet, "text/csv")})
    assert r.status_code == 422 and 'id="import-failed"' in r.text
    assert "每户同一时间只能有一个岗位" in r.text  # one post per household at a time: MP-003, PAY-001 holds MP-001
    good = sheet.rsplit(b"\n", 2)[0] + b"\n"
    r = fo.post("/registry/import", data={"kind": "posts", "csrf_token": csrf_of(fo)},
                files={"file": ("posts.csv", good, "text/csv")})
    assert r.status_code == 200 and 'id="import-ok"' in r.text and "新增岗位" in r.text
    assert "MP-002" in fo.get("/posts").text


def test_wage_roll_form(roster):
    world = roster
    fo = world.signed_in("finance_officer")
    token = csrf_of(fo)
    form = {"project": WELFARE_PROJECT, "period": "2026-02", "batch_no": "WAGE/2026-02", "paid_on": "2026-03-05"}
    assert fo.post("/posts/wage-roll", data=form, follow_redirects=False).status_code == 403  # no CSRF token
    r = fo.post("/posts/wage-roll", data={**form, "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/payments/WAGE%2F2026-02"
    batch = payments.batch_detail(world.engine, SYSTEM, "WAGE/2026-02").batch
    assert (batch.status, batch.purpose, batch.row_count, batch.total_fen, batch.prepared_by) == \
        ("draft", "wage", 1, 800_00, "finance-officer")
    # Again: nothing new; the page says which batch holds the month.
    r = fo.post("/posts/wage-roll", data={**form, "batch_no": "WAGE-AGAIN", "csrf_token": token})
    assert r.status_code == 200 and 'id="wage-roll-done"' in r.text and "WAGE/2026-02" in r.text
    assert count(world.engine, BATCH, BATCH.c.purpose == "wage") == 1
    # Refusals are listed on the page, nothing written.
    r = fo.post("/posts/wage-roll", data={**form, "period": "2026-13", "csrf_token": token})
    assert r.status_code == 422 and "YYYY-MM" in r.text
    r = fo.post("/posts/wage-roll", data={**form, "project": PROJECT, "period": "2026-03", "csrf_token": token})
    assert r.status_code == 422 and "这是玫瑰花项目" in r.text  # "a rose project: wages are paid from …"
    assert count(world.engine, BATCH, BATCH.c.purpose == "wage") == 1
    ap = world.signed_in("approver")
    assert ap.post("/posts/wage-roll", data={**form, "period": "2026-03", "csrf_token": csrf_of(ap)},
                   follow_redirects=False).status_code == 403


def test_advances_page_and_api(roster):
    world = roster
    for role in ("finance_officer", "approver", "inspector"):
        r = world.signed_in(role).get("/advances?as_of=2026-06-01")
        assert r.status_code == 200, role
        # ¥500.00 advanced on 1 March, nothing delivered: 92 days old on 1 June (91-180).
        assert "玫瑰合作社" in r.text and "¥500.00" in r.text
        assert re.search(r'id="bucket-91-180">¥500\.00', r.text)
    for role in ("loan_officer", "admin"):
        assert world.signed_in(role).get("/advances").status_code == 403
    fo = world.signed_in("finance_officer")
    assert fo.get("/advances?as_of=someday").status_code == 422
    r = fo.get("/advances/export?format=xlsx&as_of=2026-06-01")
    assert r.status_code == 200 and count(world.engine, AUDIT, AUDIT.c.action == "export.advance_aging") == 1
    body = world.api("inspector").get("/api/v1/advances/aging?as_of=2026-06-01").json()
    [row] = body["rows"]
    assert (row["project_code"], row["advanced"], row["undelivered"], row["oldest_on"], row["days"], row["bucket"]) \
        == (PROJECT, "500.00", "500.00", "2026-03-01", 92, "91-180")
    assert {b["bucket"]: b["amount"] for b in body["buckets"]}["91-180"] == "500.00"
    assert world.api("loan_officer").get("/api/v1/advances/aging").status_code == 403


def test_posts_api_masks_for_the_approver(roster):
    world = roster
    fo = world.api("finance_officer").get("/api/v1/posts?post_type=forest&active=true&as_of=2026-02-01").json()
    [p] = fo["items"]
    assert (p["post_no"], p["holder_id_number"], p["monthly_wage"], p["active"]) == ("MP-001", rid(1), "800.00", True)
    ap = world.api("approver").get("/api/v1/posts").json()
    assert ap["items"][0]["holder_id_number"] == mask_id(rid(1))
    assert world.api("loan_officer").get("/api/v1/posts").status_code == 403
    assert world.api("finance_officer").get("/api/v1/posts?post_type=ranger").status_code == 422


def test_english_second(roster):
    world = roster
    fo = world.signed_in("finance_officer")
    zh = fo.get("/posts").text
    assert "生成月度工资发放清册" in zh and "护林员" in zh
    fo.get("/lang/en?next=/posts")
    en = fo.get("/posts").text
    assert "Generate a month's wage roll" in en or "Generate a month&#39;s wage roll" in en
    assert "Forest ranger" in en
    assert "Undelivered by age" in fo.get("/advances").text
