"""The finance dashboard page (资金看板), its exports, its JSON API and the vendored ECharts.

Both lanes through `world` (two funds received, 4,000,000 + 1,000,000 yuan posted to ROSE-2026, an
account from before the project library). On top of it: a library project in a township with an
allocation and a payment. Which roles may open what is the permission matrix's job
(tests/web/test_permissions.py); here, what each allowed role gets.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import io
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import select

from ledger import journal, projects, registry, services, users
from ledger.chart import ensure_accounts
from ledger.db import unit_of_work
from ledger.entries import EntryDraft, PostingDraft
from ledger.models import AuditLog
from ledger.permissions import SYSTEM, Actor
from ledger.projects import ProjectIn

ROOT = Path(__file__).resolve().parents[2]
ECHARTS = ROOT / "web" / "static" / "vendor" / "echarts" / "echarts.min.js"
READERS = ("finance_officer", "approver", "inspector")
OTHERS = ("loan_officer", "admin")
DATA_RE = re.compile(r'<script type="application/json" id="dashboard-sankey-data">(.*?)</script>', re.S)
SCRIPT = "<script>alert(1)</script>"


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch):
    monkeypatch.setattr(users, "_hasher", PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024,
                                                                     parallelism=1),)))


@pytest.fixture
def county(world):
    """A rose project in 阿羌乡: 300,000 yuan from CENTRAL, 120,000 paid out to a household."""
    approver = Actor(world.user_ids["approver"], "approver", "approver")
    registry.upsert_townships(world.engine, SYSTEM, [registry.TownshipIn("AQ", "阿羌乡")])
    projects.create_project(world.engine, SYSTEM, ProjectIn("YT-ROSE", "玫瑰花种植", "rose", dt.date(2026, 1, 1),
                                                            50_000_000, township="阿羌乡"))
    projects.change_project_status(world.engine, approver, "YT-ROSE", "approved", "批复")
    projects.change_project_status(world.engine, SYSTEM, "YT-ROSE", "implementing", "开工")
    services.allocate(world.engine, SYSTEM, "dash-a1", "YT-ROSE", "CENTRAL", 300_000_00, dt.date(2026, 2, 10))
    draft = EntryDraft("dash-pay-1", dt.date(2026, 3, 1), "subsidy_paid", "一卡通", (
        PostingDraft("Expenses:Subsidy:Rose", "CENTRAL", 120_000_00, "H0001"),
        PostingDraft("Assets:Project:YT-ROSE", "CENTRAL", -120_000_00)))
    with unit_of_work(world.engine) as s:
        ensure_accounts(s, {p.account: draft.effective_date for p in draft.postings})
        journal.post(s, [draft])
    return world


def chart_of(page_html: str) -> dict:
    m = DATA_RE.search(page_html)
    assert m, "the page carries no chart data"
    return json.loads(m.group(1))


def test_the_page_shows_the_flows_the_townships_and_the_idle_balances(county):
    page = county.signed_in("finance_officer")
    r = page.get("/dashboard?as_of=2026-06-30")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    text = r.text
    assert 'id="nav-dashboard"' in text and "资金看板" in text
    chart = chart_of(text)
    links = {(k["source"], k["target"]): k["value"] for k in chart["links"]}
    assert links == {
        ("fund:CENTRAL", "project:Assets:Project:ROSE-2026"): "400000.00",
        ("fund:TJ-AID", "project:Assets:Project:ROSE-2026"): "100000.00",
        ("project:Assets:Project:ROSE-2026", "unspent"): "500000.00",
        ("fund:CENTRAL", "project:Assets:Project:YT-ROSE"): "300000.00",
        ("project:Assets:Project:YT-ROSE", "industry:rose"): "120000.00",
        ("project:Assets:Project:YT-ROSE", "unspent"): "180000.00",
    }
    # Exact decimal strings (never floats) reach the browser; the fund links add up to all allocated.
    assert all(isinstance(v, str) and re.fullmatch(r"\d+\.\d\d", v) for v in links.values())
    assert sum(Decimal(v) for (s, _t), v in links.items() if s.startswith("fund:")) == Decimal("800000.00")
    labels = {n["key"]: n["label"] for n in chart["nodes"]}
    assert labels["industry:rose"] == "玫瑰花" and labels["unspent"] == "结余"
    assert labels["project:Assets:Project:YT-ROSE"] == "玫瑰花种植"
    assert {n["key"]: n["depth"] for n in chart["nodes"]}["fund:CENTRAL"] == 0
    assert "¥120,000.00" in {k["amount"] for k in chart["links"]}
    assert {n["key"]: n["amount"] for n in chart["nodes"]}["unspent"] == "¥680,000.00"

    # Totals, and the township table with its progress bars (<progress>: no inline style under our CSP).
    assert "¥800,000.00" in text and "15.0%" in text  # 120,000 / 800,000
    rows = re.findall(r'<tr class="township-row">(.*?)</tr>', text, re.S)
    assert len(rows) == 2
    assert "阿羌乡" in rows[0] and "¥300,000.00" in rows[0] and "¥120,000.00" in rows[0] and "40.0%" in rows[0]
    assert '<progress max="100" value="40.0">' in rows[0]
    assert "未入项目库" in rows[1] and '<progress max="100" value="0.0">' in rows[1]
    # Idle balances, worst first: ROSE-2026 never paid (since 1 February), YT-ROSE paid on 1 March.
    idle = re.findall(r'<tr class="idle-row[^"]*">(.*?)</tr>', text, re.S)
    assert ["ROSE-2026" in idle[0], "YT-ROSE" in idle[1]] == [True, True]
    assert ">149<" in idle[0] and ">121<" in idle[1]  # days to 30 June
    assert "CENTRAL</span> ¥400,000.00" in idle[0] and "TJ-AID</span> ¥100,000.00" in idle[0]
    assert 'href="/accounts/Assets%3AProject%3AYT-ROSE/statement"' in idle[1]


def test_every_allowed_role_gets_the_page_and_no_other_does(county):
    for role in READERS:
        r = county.signed_in(role).get("/dashboard")
        assert r.status_code == 200, role
        assert 'id="nav-dashboard"' in r.text and DATA_RE.search(r.text)
    for role in OTHERS:
        c = county.signed_in(role)
        assert 'id="nav-dashboard"' not in c.get("/").text
        r = c.get("/dashboard")
        assert r.status_code == 403 and "text/html" in r.headers["content-type"]
        assert c.get("/dashboard/export?table=townships").status_code == 403
        assert county.api(role).get("/api/v1/dashboard").status_code == 403


def test_the_page_in_english_and_a_wrong_date(county):
    page = county.signed_in("inspector")
    page.cookies.set("huimin_lang", "en")
    r = page.get("/dashboard")
    assert r.status_code == 200 and "Finance dashboard" in r.text and "Spending by township" in r.text
    labels = {n["key"]: n["label"] for n in chart_of(r.text)["nodes"]}
    assert labels["industry:rose"] == "Rose" and labels["unspent"] == "Unspent balance"
    assert "<td>Not in the project library</td>" in r.text and "Days idle" in r.text
    r = page.get("/dashboard?as_of=2026-02-30")
    assert r.status_code == 422 and 'id="filter-problems"' in r.text and not DATA_RE.search(r.text)


def test_scripts_are_files_and_names_are_text(county):
    """The CSP runs no inline script: the only script without `src` is the JSON data block, which a
    browser never runs; a fund or project name with markup stays text in the page and in the JSON."""
    services.register_fund(county.engine, SYSTEM, "XSS", SCRIPT, "social")
    services.receive_fund(county.engine, SYSTEM, "xss-r", "XSS", 100_00, dt.date(2026, 2, 1))
    services.allocate(county.engine, SYSTEM, "xss-a", "XSS-PROJECT", "XSS", 100_00, dt.date(2026, 2, 2))
    r = county.signed_in("finance_officer").get("/dashboard")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    for tag in re.findall(r"<script\b[^>]*>", r.text):
        assert re.search(r'\bsrc="/static/', tag) or tag == '<script type="application/json" ' \
                                                            'id="dashboard-sankey-data">', tag
    assert '<script src="/static/vendor/echarts/echarts.min.js" defer></script>' in r.text
    assert '<script src="/static/dashboard.js" defer></script>' in r.text
    assert "<script>alert" not in r.text and html.escape(SCRIPT, quote=False) in r.text
    block = DATA_RE.search(r.text).group(1)
    assert "<" not in block  # tojson writes \u003c: the block cannot be closed from inside
    labels = {n["key"]: n["label"] for n in json.loads(block)["nodes"]}
    assert labels["fund:XSS"] == SCRIPT


def audits(engine, action: str) -> list:
    table = AuditLog.__table__
    with engine.connect() as c:
        return c.execute(select(table).where(table.c.action == action)).all()


def test_each_table_exports_to_excel_with_the_figures(county):
    page = county.signed_in("approver")
    text = page.get("/dashboard?as_of=2026-06-30").text
    link = html.unescape(re.search(r'id="export-townships-xlsx" href="([^"]+)"', text).group(1))
    assert link == "/dashboard/export?as_of=2026-06-30&table=townships&format=xlsx"
    r = page.get(link)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    disposition = r.headers["content-disposition"]
    assert disposition.startswith("attachment;") and "dashboard_townships" in disposition
    rows = [list(x) for x in load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True)]
    assert rows[0][0] == "township 乡镇"
    assert rows[1] == ["阿羌乡", 1, 300000, 120000, 180000, 40]
    assert rows[2] == ["未入库项目 not in the project library", 1, 500000, 0, 500000, 0]

    link = html.unescape(re.search(r'id="export-idle-xlsx" href="([^"]+)"', text).group(1))
    rows = [list(x) for x in load_workbook(io.BytesIO(page.get(link).content)).active.iter_rows(values_only=True)]
    assert rows[0][:7] == ["project 项目编号", "name 项目名称", "township 乡镇", "industry 产业", "balance 结余",
                           "CENTRAL 结余", "TJ-AID 结余"]
    assert [r[:7] for r in rows[1:]] == [
        ["ROSE-2026", "项目资金 ROSE-2026", "未入库项目 not in the project library", None, 500000, 400000, 100000],
        ["YT-ROSE", "玫瑰花种植", "阿羌乡", "rose 玫瑰花", 180000, 180000, None]]
    assert rows[1][-2:] == [149, "warn"] and rows[2][-2:] == [121, "warn"]
    assert rows[1][7] == dt.datetime(2026, 2, 1) and rows[2][8] == dt.datetime(2026, 3, 1)

    csv = page.get("/dashboard/export?table=idle&format=csv&as_of=2026-06-30")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert "YT-ROSE" in csv.content.decode("utf-8-sig")
    assert len(audits(county.engine, "export.dashboard_townships")) == 1
    assert len(audits(county.engine, "export.dashboard_idle")) == 2
    assert audits(county.engine, "export.dashboard_idle")[0].actor_id == county.user_ids["approver"]
    assert page.get("/dashboard/export?table=journal").status_code == 422
    assert page.get("/dashboard/export?table=idle&format=pdf").status_code == 422
    assert page.get("/dashboard/export?table=idle&as_of=someday").status_code == 422


def test_the_json_api(county):
    r = county.api("inspector").get("/api/v1/dashboard", params={"as_of": "2026-06-30"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["as_of"], body["day"], body["scope"], body["projects"], body["truncated"]) == (
        "2026-06-30", "2026-06-30", None, 2, False)
    assert (body["allocated"], body["spent"], body["balance"], body["progress_pct"]) == (
        "800000.00", "120000.00", "680000.00", "15.0")
    assert {(k["source"], k["target"], k["amount"]) for k in body["sankey"]["links"]} >= {
        ("fund:CENTRAL", "project:Assets:Project:YT-ROSE", "300000.00"),
        ("project:Assets:Project:YT-ROSE", "industry:rose", "120000.00")}
    assert body["townships"][0] == {"township": "阿羌乡", "in_library": True, "projects": 1, "allocated": "300000.00",
                                    "spent": "120000.00", "balance": "180000.00", "progress_pct": "40.0"}
    first = body["idle"]["items"][0]
    assert (first["code"], first["balance"], first["idle_days"], first["level"], first["by_fund"]) == (
        "ROSE-2026", "500000.00", 149, "warn",
        [{"fund": "CENTRAL", "balance": "400000.00"}, {"fund": "TJ-AID", "balance": "100000.00"}])
    assert (body["idle"]["total"], body["idle"]["total_balance"]) == (2, "680000.00")
    assert county.api("inspector").get("/api/v1/dashboard", params={"as_of": "20260630"}).status_code == 422


def test_echarts_is_vendored_and_served_as_javascript(county):
    anon = county.client()  # static files need no sign-in, like htmx
    r = anon.get("/static/vendor/echarts/echarts.min.js")
    assert r.status_code == 200
    assert r.headers["content-type"].split(";")[0] in ("text/javascript", "application/javascript")
    assert r.content == ECHARTS.read_bytes() and b"Apache Software Foundation" in r.content[:2000]
    readme = (ROOT / "web" / "static" / "vendor" / "README.md").read_text()
    assert hashlib.sha256(r.content).hexdigest() in readme and "| 6.0.0 |" in readme
    for name in ("LICENSE", "NOTICE"):
        assert anon.get(f"/static/vendor/echarts/{name}").status_code == 200
    r = anon.get("/static/dashboard.js")
    assert r.status_code == 200 and r.headers["content-type"].split(";")[0] in ("text/javascript",
                                                                                  "application/javascript")
    assert anon.get("/static/dashboard.css").headers["content-type"].startswith("text/css")
    assert not (ROOT / "package.json").exists() and not (ROOT / "node_modules").exists()
