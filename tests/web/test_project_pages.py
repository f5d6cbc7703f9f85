"""Project pages and the allocation-request API, both lanes through `world`: the list (filters, htmx,
export with audit), a project's page (figures, history, status buttons with CSRF), the requests page
(approve/reject only for requests the approver did not prepare), the upload of projects and allocations
sheets on the import page, and maker-checker over the JSON API (the preparer cannot approve: 403)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import func, select

from ledger import projects, registry, users
from ledger.models import AllocationRequest, AuditLog, Entry
from ledger.permissions import SYSTEM, Actor
from ledger.projects import ProjectIn
from tests.web.conftest import ROLES

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
REQUEST, ENTRY, AUDIT = AllocationRequest.__table__, Entry.__table__, AuditLog.__table__
API = "/api/v1"
FO, AP, LO, IN, AD = ROLES


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch):
    monkeypatch.setattr(users, "_hasher", PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024,
                                                                     parallelism=1),)))


def actor(world, role: str) -> Actor:
    return Actor(world.user_ids[role], role.replace("_", "-"), role)


def csrf_of(client) -> str:
    m = CSRF_RE.search(client.get("/").text)
    assert m
    return m.group(1)


def count(engine, table, *where) -> int:
    with engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


@pytest.fixture
def library(world):
    """Two projects under way (one a township's, one county-wide) and one planned, created by the finance officer."""
    registry.upsert_townships(world.engine, SYSTEM, [registry.TownshipIn("MGL", "木尕拉镇")])
    fo, ap = actor(world, FO), actor(world, AP)
    for code, industry, township in (("YT-ROSE-01", "rose", "木尕拉镇"), ("YT/SHEEP/02", "sheep", None)):
        projects.create_project(world.engine, fo, ProjectIn(code, f"项目{code}", industry, dt.date(2026, 1, 1),
                                                            500_000_00, township=township, implementer="合作社"))
        projects.change_project_status(world.engine, ap, code, "approved", "批复")
        projects.change_project_status(world.engine, fo, code, "implementing", "开工")
    projects.create_project(world.engine, fo, ProjectIn("YT-PLAN-03", "储备<b>项目</b>", "grape",
                                                        dt.date(2026, 1, 1), 1_000_00))
    return world


# ---------------------------------------------------------------------------------------------
# Pages per role


def test_the_project_pages_render_per_role(library):
    world = library
    for role in ROLES:
        c = world.signed_in(role)
        home = c.get("/").text
        readers = role != AD
        assert ('id="nav-projects"' in home) is readers and ('id="nav-allocations"' in home) is readers
        for url in ("/projects", "/projects/YT-ROSE-01", "/projects/YT/SHEEP/02", "/allocations"):
            r = c.get(url)
            assert r.status_code == (200 if readers else 403), (role, url)
        if not readers:
            continue
        page = c.get("/projects").text
        assert "YT-ROSE-01" in page and "玫瑰花" in page and "木尕拉镇" in page
        assert "储备&lt;b&gt;项目&lt;/b&gt;" in page  # names are text, never markup
        assert ('id="projects-import-link"' in page) is (role == FO)
        detail = c.get("/projects/YT/SHEEP/02").text
        assert 'id="project-funds"' in detail and 'id="project-history"' in detail
        assert ('id="allocation-form"' in c.get("/allocations").text) is (role == FO)
    assert world.signed_in(IN).get("/projects/NO-SUCH").status_code == 404


def test_the_list_filters_in_place_and_exports_with_an_audit_row(library):
    world = library
    c = world.signed_in(IN)
    r = c.get("/projects", params={"industry": "rose"}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and "<html" not in r.text
    assert "YT-ROSE-01" in r.text and "YT/SHEEP/02" not in r.text
    assert r.headers["hx-push-url"] == "/projects?industry=rose"
    assert "YT-PLAN-03" in c.get("/projects", params={"status": "planned"}).text
    assert "YT-ROSE-01" not in c.get("/projects", params={"township": "其他乡"}).text
    assert c.get("/projects", params={"status": "bogus"}).status_code == 422
    before = count(world.engine, AUDIT, AUDIT.c.action == "export.projects")
    csv = c.get("/projects/export", params={"format": "csv", "status": "implementing"})
    assert csv.status_code == 200 and "attachment" in csv.headers["content-disposition"]
    text = csv.content.decode("utf-8-sig")
    assert "YT-ROSE-01" in text and "YT/SHEEP/02" in text and "YT-PLAN-03" not in text
    assert c.get("/projects/export", params={"format": "xlsx"}).content[:2] == b"PK"
    assert count(world.engine, AUDIT, AUDIT.c.action == "export.projects") == before + 2


def test_status_buttons_follow_role_and_four_eyes_and_need_csrf(library):
    world = library
    fo, ap = world.signed_in(FO), world.signed_in(AP)
    planned_fo = fo.get("/projects/YT-PLAN-03").text
    assert 'id="move-approved"' not in planned_fo  # not its role, and it created the project
    assert 'id="move-closed"' in planned_fo  # a planned project may be withdrawn
    assert 'id="move-approved"' in ap.get("/projects/YT-PLAN-03").text
    assert 'id="move-completed"' in fo.get("/projects/YT-ROSE-01").text
    assert 'id="project-moves"' not in world.signed_in(LO).get("/projects/YT-ROSE-01").text
    r = ap.post("/projects/YT-PLAN-03/status", data={"to_status": "approved", "reason": "批复"},
                follow_redirects=False)
    assert r.status_code == 403  # no CSRF token
    assert projects.project_detail(world.engine, SYSTEM, "YT-PLAN-03").project.status == "planned"
    r = ap.post("/projects/YT-PLAN-03/status", data={"to_status": "approved", "reason": "县领导小组批复",
                                                     "csrf_token": csrf_of(ap)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/projects/YT-PLAN-03"
    page = ap.get("/projects/YT-PLAN-03").text
    assert "县领导小组批复" in page and "已批复" in page
    # A refusal comes back on the page, naming why; the approver may not move a project forward.
    r = fo.post("/projects/YT/SHEEP/02/status", data={"to_status": "accepted", "reason": "验收",
                                                      "csrf_token": csrf_of(fo)}, follow_redirects=False)
    assert r.status_code == 403
    r = fo.post("/projects/YT/SHEEP/02/status", data={"to_status": "completed", "reason": "",
                                                      "csrf_token": csrf_of(fo)}, follow_redirects=False)
    assert r.status_code == 422 and 'id="project-problems"' in r.text


def test_requests_are_prepared_on_the_page_and_decided_by_another_user(library):
    world = library
    fo, ap = world.signed_in(FO), world.signed_in(AP)
    form = fo.get("/allocations").text
    key = re.search(r'name="key" value="([^"]+)"', form).group(1)
    data = {"csrf_token": csrf_of(fo), "key": key, "project_code": "YT-ROSE-01", "fund": "CENTRAL",
            "amount": "1,000.50".replace(",", ""), "allocate_on": "2026-03-02", "memo": "第一批"}
    entries = count(world.engine, ENTRY)
    assert fo.post("/allocations", data=data, follow_redirects=False).status_code == 303
    assert fo.post("/allocations", data=data, follow_redirects=False).status_code == 303  # the same form twice
    assert count(world.engine, REQUEST) == 1 and count(world.engine, ENTRY) == entries
    [req] = projects.list_requests(world.engine, SYSTEM).items
    assert (req.status, req.prepared_by, req.amount_fen) == ("pending", "finance-officer", 1_000_50)
    assert f'id="approve-{req.id}"' not in fo.get("/allocations").text
    assert f'id="approve-{req.id}"' in ap.get("/allocations?status=pending").text
    bad = dict(data, key="web-bad", amount="12.345")
    r = fo.post("/allocations", data=bad)
    assert r.status_code == 422 and 'id="allocation-problems"' in r.text
    # Decisions need the CSRF token and the approver's role.
    assert ap.post(f"/allocations/{req.id}/approve", follow_redirects=False).status_code == 403
    assert fo.post(f"/allocations/{req.id}/approve", data={"csrf_token": csrf_of(fo)},
                   follow_redirects=False).status_code == 403
    r = ap.post(f"/allocations/{req.id}/approve", data={"csrf_token": csrf_of(ap)}, follow_redirects=False)
    assert r.status_code == 303
    done = projects.get_request(world.engine, SYSTEM, req.id)
    assert done.status == "approved" and done.decided_by == "approver" and done.entry_seq
    with world.engine.connect() as c:
        maker, checker = c.execute(select(ENTRY.c.maker_id, ENTRY.c.checker_id)
                                   .where(ENTRY.c.seq == done.entry_seq)).one()
    assert (maker, checker) == (world.user_ids[FO], world.user_ids[AP])
    assert "1,000.50" in ap.get("/projects/YT-ROSE-01").text


def test_an_approver_gets_no_buttons_for_what_it_prepared_and_the_service_refuses_it(library):
    world = library
    with world.engine.begin() as c:  # a request prepared by the approver itself (a role changed since)
        [fund_id] = c.execute(select(projects.FUND.c.id).where(projects.FUND.c.code == "CENTRAL")).one()
        [project_id] = c.execute(select(projects.PROJECT.c.id)
                                 .where(projects.PROJECT.c.project_code == "YT-ROSE-01")).one()
        own = c.execute(REQUEST.insert().values(
            key="own", kind="allocation", project_id=project_id, fund_id=fund_id, amount_fen=100,
            allocate_on=dt.date(2026, 3, 2), memo="", status="pending", prepared_by=world.user_ids[AP],
            prepared_at=dt.datetime(2026, 3, 2)).returning(REQUEST.c.id)).scalar_one()
    ap = world.signed_in(AP)
    page = ap.get("/allocations").text
    assert f'id="request-{own}"' in page and f'id="approve-{own}"' not in page
    r = ap.post(f"/allocations/{own}/approve", data={"csrf_token": csrf_of(ap)}, follow_redirects=False)
    assert r.status_code == 403
    assert projects.get_request(world.engine, SYSTEM, own).status == "pending"
    assert ap.post("/allocations/999999/approve", data={"csrf_token": csrf_of(ap)}).status_code == 404


def test_a_rejection_needs_a_reason_and_an_overdraw_is_shown_not_posted(library):
    world = library
    fo = actor(world, FO)
    small = projects.prepare_allocation(world.engine, fo, "r-1", "YT-ROSE-01", "CENTRAL", 100, dt.date(2026, 3, 2))
    huge = projects.prepare_allocation(world.engine, fo, "r-2", "YT-ROSE-01", "CENTRAL", 10**12,
                                       dt.date(2026, 3, 2))
    ap = world.signed_in(AP)
    token = csrf_of(ap)
    r = ap.post(f"/allocations/{small.id}/reject", data={"csrf_token": token, "reason": " "})
    assert r.status_code == 422 and 'id="allocation-problems"' in r.text
    r = ap.post(f"/allocations/{small.id}/reject", data={"csrf_token": token, "reason": "重复申请"},
                follow_redirects=False)
    assert r.status_code == 303
    assert projects.get_request(world.engine, SYSTEM, small.id).reason == "重复申请"
    entries = count(world.engine, ENTRY)
    r = ap.post(f"/allocations/{huge.id}/approve", data={"csrf_token": token})
    assert r.status_code == 422 and "余额不得小于零" in r.text  # may not go below zero (web/problem_text.py)
    assert count(world.engine, ENTRY) == entries
    assert projects.get_request(world.engine, SYSTEM, huge.id).status == "pending"


# ---------------------------------------------------------------------------------------------
# Upload on the import page

PROJECTS_CSV = ("项目编号,项目名称,产业,乡镇,实施主体,预算,补助标准,开始日期,结束日期\n"
                "YT-GRAPE-04,葡萄种植,葡萄,MGL,葡萄合作社,300000,2000,2026-01-01,2026-12-31\n")
ALLOCATIONS_CSV = "项目编号,资金编码,金额,安排日期\nYT-ROSE-01,CENTRAL,5000,2026-03-03\n"


def _upload(client, kind: str, text: str, **fields):
    data = {"kind": kind, "csrf_token": csrf_of(client), **{k: "true" for k, v in fields.items() if v}}
    return client.post("/registry/import", data=data, files={"file": (f"{kind}.csv", text.encode(), "text/csv")})


def test_projects_and_allocations_upload_on_the_import_page(library):
    world = library
    fo = world.signed_in(FO)
    form = fo.get("/registry/import?kind=allocations").text
    assert 'value="projects"' in form and '<option value="allocations" selected>' in form
    r = _upload(fo, "projects", PROJECTS_CSV, dry_run=True)
    assert r.status_code == 200 and 'id="import-ok"' in r.text
    assert projects.project_detail(world.engine, SYSTEM, "YT-GRAPE-04") is None
    r = _upload(fo, "projects", PROJECTS_CSV)
    assert r.status_code == 200 and "新增项目" in r.text
    assert projects.project_detail(world.engine, SYSTEM, "YT-GRAPE-04").project.township == "木尕拉镇"
    r = _upload(fo, "allocations", ALLOCATIONS_CSV)
    assert r.status_code == 200 and "新增资金安排申请" in r.text
    assert [x.status for x in projects.list_requests(world.engine, SYSTEM).items] == ["pending"]
    r = _upload(fo, "allocations", ALLOCATIONS_CSV.replace("YT-ROSE-01", "NO-SUCH"))
    assert r.status_code == 422 and 'id="import-errors"' in r.text and "NO-SUCH" in r.text
    for role in (AP, LO, IN, AD):
        c = world.signed_in(role)
        assert c.get("/registry/import").status_code == 403
        assert _upload(c, "projects", PROJECTS_CSV).status_code == 403


# ---------------------------------------------------------------------------------------------
# The API: maker-checker


def test_the_api_prepares_and_another_user_approves(library):
    world = library
    fo, ap = world.api(FO), world.api(AP)
    body = {"key": "api-1", "project_code": "YT/SHEEP/02", "fund": "TJ-AID", "amount": "2500.00", "date": "2026-03-04",
            "memo": "第二批"}
    entries = count(world.engine, ENTRY)
    first = fo.post(f"{API}/allocation-requests", json=body, headers={"Idempotency-Key": "prep-1"})
    assert first.status_code == 201, first.text
    req = first.json()
    assert (req["status"], req["prepared_by"], req["amount"], req["created"]) == ("pending", "finance-officer",
                                                                                 "2500.00", True)
    again = fo.post(f"{API}/allocation-requests", json=body)  # no header: the business key still holds
    assert again.status_code == 200 and again.json()["id"] == req["id"] and again.json()["created"] is False
    changed = fo.post(f"{API}/allocation-requests", json=dict(body, amount="2600.00"))
    assert changed.status_code == 422 and changed.json()["errors"][0]["column"] == "key"
    assert count(world.engine, ENTRY) == entries
    # The preparer cannot approve (nor can anyone without fund.approve); another approver can.
    assert fo.post(f"{API}/allocation-requests/{req['id']}/approve").status_code == 403
    assert world.api(IN).post(f"{API}/allocation-requests/{req['id']}/approve").status_code == 403
    ok = ap.post(f"{API}/allocation-requests/{req['id']}/approve", headers={"Idempotency-Key": "appr-1"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"] == "approved" and ok.json()["decided_by"] == "approver" and ok.json()["entry_seq"]
    replay = ap.post(f"{API}/allocation-requests/{req['id']}/approve", headers={"Idempotency-Key": "appr-1"})
    assert replay.json() == ok.json() and replay.headers["idempotent-replayed"] == "true"
    assert count(world.engine, ENTRY) == entries + 1
    entry = fo.get(f"{API}/journal/{ok.json()['entry_seq']}").json()
    assert entry["maker"] == "finance-officer" and entry["checker"] == "approver" and entry["kind"] == "allocation"
    detail = fo.get(f"{API}/projects/YT/SHEEP/02").json()
    assert detail["allocated"] == "2500.00" and detail["balance"] == "2500.00"
    assert [f["fund"] for f in detail["by_fund"]] == ["TJ-AID"] and detail["requests"][0]["id"] == req["id"]
    assert [h["to_status"] for h in detail["history"]] == ["planned", "approved", "implementing"]
    # A rejection: by an approver, with a reason, nothing posted.
    other = fo.post(f"{API}/allocation-requests", json=dict(body, key="api-2")).json()
    assert ap.post(f"{API}/allocation-requests/{other['id']}/reject", json={"reason": ""}).status_code == 422
    r = ap.post(f"{API}/allocation-requests/{other['id']}/reject", json={"reason": "预算不足"})
    assert r.status_code == 200 and r.json()["status"] == "rejected" and r.json()["reason"] == "预算不足"
    assert count(world.engine, ENTRY) == entries + 1
    pending = ap.get(f"{API}/allocation-requests", params={"status": "pending"}).json()
    assert pending["total"] == 0
    assert ap.post(f"{API}/allocation-requests/999999/approve").status_code == 404


def test_the_api_lists_reads_and_creates_projects(library):
    world = library
    fo = world.api(FO)
    page = world.api(LO).get(f"{API}/projects", params={"status": "implementing"}).json()
    assert [p["code"] for p in page["items"]] == ["YT-ROSE-01", "YT/SHEEP/02"] and page["total"] == 2
    assert page["items"][0]["budget"] == "500000.00" and page["items"][0]["township"] == "木尕拉镇"
    assert world.api(AD).get(f"{API}/projects").status_code == 403
    assert fo.get(f"{API}/projects/NO-SUCH").status_code == 404
    new = {"code": "API-NEW-1", "name": "接口新项目", "industry": "vegetable", "budget": "0", "start_on": "2026-02-01",
           "end_on": "2026-12-31", "standard": "1500.00", "performance_target": "带动 50 户"}
    r = fo.post(f"{API}/projects", json=new)
    assert r.status_code == 201 and r.json()["status"] == "planned" and r.json()["standard"] == "1500.00"
    assert fo.post(f"{API}/projects", json=new).status_code == 422  # the code is taken
    assert fo.post(f"{API}/projects", json=dict(new, code="API-NEW-2", budget="1.005")).status_code == 422
    assert world.api(AP).post(f"{API}/projects", json=dict(new, code="API-NEW-3")).status_code == 403
    # The direct allocation route is gone: allocations are requests for an approver.
    assert fo.post(f"{API}/allocations", json={"key": "x"}).status_code in (404, 405)
