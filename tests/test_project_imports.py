"""`huimin import projects|allocations FILE` and history imports of funds and allocations
(`--history --approved-by USER`), on both database lanes: all or nothing, row-named errors,
dry runs that write nothing, re-imports that are no-ops, maker and checker on every history entry.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import subprocess

import openpyxl
import pytest
from sqlalchemy import func, select

from ledger import projects, registry, services
from ledger.history import HistoryMark, file_sha256
from ledger.imports.files import import_file
from ledger.models import AllocationRequest, AuditLog, Entry, HistoryRecord, Project, ProjectStatus
from ledger.permissions import SYSTEM, PermissionDenied
from tests.helpers import Users, huimin_cmd

PROJECT, PSTATUS, REQUEST = Project.__table__, ProjectStatus.__table__, AllocationRequest.__table__
ENTRY, AUDIT, HISTORY = Entry.__table__, AuditLog.__table__, HistoryRecord.__table__
POOL = "Assets:Treasury:Pool"

USERS = {"fo": ("finance_officer", None), "fo2": ("finance_officer", None), "ap": ("approver", None),
         "ap2": ("approver", None), "insp": ("inspector", None), "fo-mgl": ("finance_officer", "木尕拉镇")}

PROJECTS_ZH = (
    "项目编号,项目名称,产业,乡镇,实施主体,预算,补助标准,开始日期,结束日期\n"
    "YT-ROSE-01,玫瑰花种植,玫瑰花,木尕拉镇,玉田县玫瑰合作社,\"500,000\",3000,2026-01-01,2026-12-31\n"
    "YT-SHEEP-01,多胎肉羊养殖,多胎肉羊,MGL,,800000,,2026/2/1,2026-11-30\n"
    "YT-SUB-01,小额信贷贴息,贴息,,,200000.50,,2026-01-01,2026-12-31\n"
)
FUNDS_ZH = (
    "资金编码,资金名称,资金性质,指标文号,金额,到位日期\n"
    "CENTRAL-2026,中央财政衔接推进乡村振兴补助资金,中央,新财农〔2026〕1号,1000000,2026-01-05\n"
    "TJ-AID-2026,天津市东西部协作资金,东西部协作,津协〔2026〕3号,300000,2026-01-08\n"
)
ALLOCATIONS = (
    "project_code,fund_code,amount,allocated_on\n"
    "YT-ROSE-01,CENTRAL-2026,400000,2026-02-01\n"
    "YT-ROSE-01,TJ-AID-2026,100000,2026-02-02\n"
    "YT-SHEEP-01,CENTRAL-2026,\"250,000.50\",2026-03-01\n"
)


def write(tmp_path, name: str, text: str, encoding: str = "utf-8"):
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


def xlsx(tmp_path, name: str, rows: list[list]) -> object:
    wb = openpyxl.Workbook()
    ws = wb.active
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    p = tmp_path / name
    p.write_bytes(buf.getvalue())
    return p


def count(engine, table, *where) -> int:
    with engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def snapshot(engine) -> tuple[int, ...]:
    return tuple(count(engine, t) for t in (PROJECT, PSTATUS, REQUEST, ENTRY, AUDIT, HISTORY))


def pool(engine) -> dict[str, int]:
    return {r.fund: r.balance_fen for r in services.trial_balance(engine, SYSTEM) if r.account == POOL}


def problems(report) -> list[tuple]:
    return [(p.row, p.field, p.value) for p in report.problems]


@pytest.fixture
def u(engine) -> Users:
    registry.upsert_townships(engine, SYSTEM, [registry.TownshipIn("MGL", "木尕拉镇"),
                                               registry.TownshipIn("AQ", "阿羌乡")])
    return Users(engine, USERS)


@pytest.fixture
def library(engine, u, tmp_path) -> Users:
    """The three projects imported by fo, approved by ap and under way; the two funds received."""
    assert import_file(engine, u["fo"], "projects", write(tmp_path, "p.csv", PROJECTS_ZH)).ok
    for code in ("YT-ROSE-01", "YT-SHEEP-01", "YT-SUB-01"):
        projects.change_project_status(engine, u["ap"], code, "approved", "县项目领导小组批复")
        projects.change_project_status(engine, u["fo"], code, "implementing", "开工")
    assert import_file(engine, u["fo"], "funds", write(tmp_path, "f.csv", FUNDS_ZH)).ok
    return u


# ---------------------------------------------------------------------------------------------
# Projects


def test_a_projects_sheet_registers_the_library_once(engine, u, tmp_path):
    f = write(tmp_path, "projects.csv", PROJECTS_ZH, "utf-8-sig")
    report = import_file(engine, u["fo"], "projects", f)
    assert report.ok, report.problems
    assert report.summary == {"projects_created": 3, "projects_unchanged": 0}
    rose = projects.project_detail(engine, u["insp"], "YT-ROSE-01").project
    assert (rose.status, rose.township, rose.budget_fen, rose.standard_fen, rose.created_by) == (
        "planned", "木尕拉镇", 500_000_00, 3_000_00, "fo")
    sheep = projects.project_detail(engine, u["insp"], "YT-SHEEP-01")
    assert sheep.project.township == "木尕拉镇"  # the code MGL is stored as the township's name
    assert [h.to_status for h in sheep.history] == ["planned"] and sheep.history[0].changed_by == "fo"
    assert projects.project_detail(engine, u["insp"], "YT-SUB-01").project.township is None  # county-wide
    assert count(engine, AUDIT, AUDIT.c.action == "project.create") == 3
    before = snapshot(engine)
    again = import_file(engine, u["fo2"], "projects", f)
    assert again.ok and again.summary == {"projects_created": 0, "projects_unchanged": 3}
    assert snapshot(engine) == before  # nothing written, not even an audit row


def test_a_bad_projects_xlsx_names_every_row_and_lands_nothing(engine, u, tmp_path):
    header = ["project_code", "name", "industry", "township", "implementer", "budget", "standard", "start_on",
              "end_on"]
    f = xlsx(tmp_path, "projects.xlsx", [
        header,
        ["P-1", "好项目", "rose", "木尕拉镇", None, 1000, None, "2026-01-01", "2026-12-31"],
        ["P-2", "乡镇不存在", "grape", "不存在乡", None, 1000, None, "2026-01-01", "2026-12-31"],
        ["P-3", "预算三位小数", "grape", None, None, "12.345", None, "2026-01-01", "2026-12-31"],
        ["P-4", "日期错", "grape", None, None, 1000, None, "2026-13-01", "2026-12-31"],
        ["P-1", "重复编号", "rose", None, None, 1000, None, "2026-01-01", "2026-12-31"],
        ["P-6", "未知产业", "durian", None, None, 1000, None, "2026-01-01", "2026-12-31"],
    ])
    before = snapshot(engine)
    report = import_file(engine, u["fo"], "projects", f)
    assert not report.ok
    got = problems(report)
    assert (4, "budget", "12.345") in got and (5, "start_on", "2026-13-01") in got
    assert (6, "project_code", "P-1") in got and (7, "industry", "durian") in got
    assert all(p.row is not None for p in report.problems)
    assert snapshot(engine) == before
    # The cells all read: the township is found unknown against the registry, naming its row.
    fixed = xlsx(tmp_path, "p2.xlsx", [
        header,
        ["P-1", "好项目", "rose", "木尕拉镇", None, 1000, None, "2026-01-01", "2026-12-31"],
        ["P-2", "乡镇不存在", "grape", "不存在乡", None, 1000, None, "2026-01-01", "2026-12-31"],
    ])
    report = import_file(engine, u["fo"], "projects", fixed)
    assert not report.ok and problems(report) == [(3, "township", "不存在乡")]
    assert "no such township" in report.problems[0].message
    assert snapshot(engine) == before


def test_a_registered_code_with_other_details_is_a_conflict_naming_row_column_and_value(engine, u, tmp_path):
    assert import_file(engine, u["fo"], "projects", write(tmp_path, "p.csv", PROJECTS_ZH)).ok
    changed = PROJECTS_ZH.replace("多胎肉羊养殖", "肉羊养殖二期").replace("800000", "900000")
    before = snapshot(engine)
    report = import_file(engine, u["fo"], "projects", write(tmp_path, "p2.csv", changed))
    assert not report.ok
    assert problems(report) == [(3, "name", "肉羊养殖二期"), (3, "budget", "900000.00")]
    assert "多胎肉羊养殖" in report.problems[0].message
    # A new code whose account another project already has ('YT_ROSE_01' -> Assets:Project:YT-ROSE-01).
    clash = PROJECTS_ZH.replace("YT-SUB-01", "YT_ROSE_01")
    report = import_file(engine, u["fo"], "projects", write(tmp_path, "p3.csv", clash))
    assert not report.ok and problems(report) == [(4, "project_code", "YT_ROSE_01")]
    assert snapshot(engine) == before


def test_a_township_officer_imports_its_own_townships_projects_only(engine, u, tmp_path):
    report = import_file(engine, u["fo-mgl"], "projects", write(tmp_path, "p.csv", PROJECTS_ZH))
    assert not report.ok and problems(report) == [(4, "township", "")]  # the county-wide row
    mine = "\n".join(PROJECTS_ZH.splitlines()[:3]) + "\n"
    assert import_file(engine, u["fo-mgl"], "projects", write(tmp_path, "mine.csv", mine)).ok


def test_dry_runs_check_against_the_database_and_write_nothing(engine, u, tmp_path):
    before = snapshot(engine)
    rehearsed = import_file(engine, u["fo"], "projects", write(tmp_path, "p.csv", PROJECTS_ZH), dry_run=True)
    assert rehearsed.ok and rehearsed.dry_run and rehearsed.summary["projects_created"] == 3
    assert snapshot(engine) == before
    # Without the projects, the allocations sheet fails on the database's side: every row named.
    report = import_file(engine, u["fo"], "allocations", write(tmp_path, "a.csv", ALLOCATIONS), dry_run=True)
    assert not report.ok and {p.row for p in report.problems} == {2, 3, 4}
    assert snapshot(engine) == before


# ---------------------------------------------------------------------------------------------
# Allocations, today's work: pending requests for an approver


def test_an_allocations_sheet_becomes_pending_requests_an_approver_decides(engine, library, tmp_path):
    u = library
    f = write(tmp_path, "allocations.csv", ALLOCATIONS)
    rehearsed = import_file(engine, u["fo"], "allocations", f, dry_run=True)
    assert rehearsed.ok and rehearsed.summary == {"requests_created": 3, "requests_already": 0}
    assert count(engine, REQUEST) == 0
    entries = count(engine, ENTRY)
    report = import_file(engine, u["fo"], "allocations", f)
    assert report.ok, report.problems
    assert report.summary == {"requests_created": 3, "requests_already": 0}
    pending = projects.list_requests(engine, u["ap"], status="pending").items
    assert len(pending) == 3 and {r.prepared_by for r in pending} == {"fo"}
    assert count(engine, ENTRY) == entries  # nothing posted until approved
    assert count(engine, AUDIT, AUDIT.c.action == "allocation.prepare") == 3
    before = snapshot(engine)
    again = import_file(engine, u["fo2"], "allocations", f)
    assert again.ok and again.summary == {"requests_created": 0, "requests_already": 3}
    assert snapshot(engine) == before
    sheep = next(r for r in pending if r.project == "YT-SHEEP-01")
    assert sheep.amount_fen == 250_000_50
    with pytest.raises(PermissionDenied):
        projects.approve_request(engine, u["fo"], sheep.id)
    done = projects.approve_request(engine, u["ap"], sheep.id)
    assert done.status == "approved" and done.decided_by == "ap" and done.entry_seq
    with engine.connect() as c:
        maker, checker = c.execute(select(ENTRY.c.maker_id, ENTRY.c.checker_id)
                                   .where(ENTRY.c.seq == done.entry_seq)).one()
    assert (maker, checker) == (u.ids["fo"], u.ids["ap"])
    assert pool(engine)["CENTRAL-2026"] == 1_000_000_00 - 250_000_50
    # A decided request is still the same row: the sheet imported again adds nothing.
    assert import_file(engine, u["fo"], "allocations", f).summary == {"requests_created": 0, "requests_already": 3}


def test_a_bad_allocations_sheet_names_every_row_and_lands_nothing(engine, library, tmp_path):
    u = library
    projects.create_project(engine, u["fo"], projects.ProjectIn("YT-PLAN-01", "储备项目", "grape",
                                                                 dt.date(2026, 1, 1), 1000))
    header = ["项目编号", "资金编码", "金额", "安排日期"]
    f = xlsx(tmp_path, "allocations.xlsx", [
        header,
        ["YT-ROSE-01", "CENTRAL-2026", 1000, "2026-02-01"],
        ["YT-ROSE-01", "NO-SUCH-FUND", 1000, "2026-02-01"],
        ["NO-SUCH-PROJECT", "CENTRAL-2026", 1000, "2026-02-01"],
        ["YT-ROSE-01", "CENTRAL-2026", "12.345", "2026-02-01"],
        ["YT-ROSE-01", "CENTRAL-2026", 1000, "2026-02-30"],
        ["YT-ROSE-01", "CENTRAL-2026", 1000, "2026-02-01"],
        ["YT-PLAN-01", "CENTRAL-2026", 1000, "2026-02-01"],
    ])
    before = snapshot(engine)
    report = import_file(engine, u["fo"], "allocations", f)
    assert not report.ok
    got = problems(report)
    # Cell problems first (the database is not asked while a cell is wrong).
    assert (5, "amount", "12.345") in got and (6, "allocated_on", "2026-02-30") in got
    assert (7, "project_code", "YT-ROSE-01") in got  # the same row as row 2: typed twice
    assert snapshot(engine) == before
    cells_ok = xlsx(tmp_path, "a2.xlsx", [
        header,
        ["YT-ROSE-01", "CENTRAL-2026", 1000, "2026-02-01"],
        ["YT-ROSE-01", "NO-SUCH-FUND", 1000, "2026-02-01"],
        ["NO-SUCH-PROJECT", "CENTRAL-2026", 1000, "2026-02-01"],
        ["YT-PLAN-01", "CENTRAL-2026", 1000, "2026-02-01"],
    ])
    report = import_file(engine, u["fo"], "allocations", cells_ok)
    assert not report.ok
    assert problems(report) == [(3, "fund_code", "NO-SUCH-FUND"), (4, "project_code", "NO-SUCH-PROJECT"),
                                (5, "project_code", "YT-PLAN-01")]
    assert "planned" in report.problems[2].message
    assert snapshot(engine) == before


# ---------------------------------------------------------------------------------------------
# History: done before the county adopted Huimin, recorded on its own dates with its approver


def _history(path, approver: str = "ap") -> HistoryMark:
    return HistoryMark(approver, file_sha256(path))


def test_history_funds_are_posted_with_the_approver_as_checker_once(engine, u, tmp_path):
    f = write(tmp_path, "funds.csv", FUNDS_ZH)
    report = import_file(engine, u["fo"], "funds", f, history=_history(f))
    assert report.ok, report.problems
    assert report.summary == {"funds_created": 2, "receipts_posted": 2, "receipts_already_posted": 0,
                              "history_marked": 2}
    with engine.connect() as c:
        rows = c.execute(select(ENTRY.c.maker_id, ENTRY.c.checker_id, HISTORY.c.source, HISTORY.c.row_no,
                                HISTORY.c.file_sha256, HISTORY.c.recorded_by, HISTORY.c.approved_by)
                         .select_from(ENTRY.join(HISTORY, HISTORY.c.entry_seq == ENTRY.c.seq))
                         .order_by(HISTORY.c.row_no)).all()
    sha = file_sha256(f)
    fo, ap = u.ids["fo"], u.ids["ap"]
    assert [tuple(r) for r in rows] == [(fo, ap, "funds", 2, sha, fo, ap), (fo, ap, "funds", 3, sha, fo, ap)]
    assert pool(engine) == {"CENTRAL-2026": 1_000_000_00, "TJ-AID-2026": 300_000_00}
    before = snapshot(engine)
    again = import_file(engine, u["fo"], "funds", f, history=_history(f))
    assert again.ok and again.summary["receipts_posted"] == 0 and again.summary["history_marked"] == 0
    assert snapshot(engine) == before


def test_history_refuses_an_approver_who_is_the_importer_or_may_not_approve(engine, u, tmp_path):
    f = write(tmp_path, "funds.csv", FUNDS_ZH)
    before = snapshot(engine)
    for importer, approver, message in ((SYSTEM, "system", "another user"), (u["fo"], "fo", "another user"),
                                        (u["fo"], "insp", "may not approve"), (u["fo"], "fo2", "may not approve"),
                                        (u["fo"], "nobody", "no active user")):
        report = import_file(engine, importer, "funds", f, history=_history(f, approver))
        assert not report.ok, approver
        assert [(p.field, p.value) for p in report.problems] == [("approved_by", approver)]
        assert message in report.problems[0].message
    assert snapshot(engine) == before
    # Receipts already posted as today's work are not re-labelled history.
    assert import_file(engine, u["fo"], "funds", f).ok
    report = import_file(engine, u["fo"], "funds", f, history=_history(f))
    assert not report.ok and problems(report) == [(2, "fund_code", "CENTRAL-2026"), (3, "fund_code", "TJ-AID-2026")]
    assert count(engine, HISTORY) == 0


def test_history_allocations_are_approved_posted_and_marked_once(engine, u, tmp_path):
    assert import_file(engine, u["fo"], "projects", write(tmp_path, "p.csv", PROJECTS_ZH)).ok
    # Mid-year: one project already finished, one accepted (验收), one still being carried out.
    for code, steps in (("YT-ROSE-01", ["approved", "implementing", "completed"]),
                        ("YT-SHEEP-01", ["approved", "implementing", "completed", "accepted"]),
                        ("YT-SUB-01", ["approved"])):
        for step in steps:
            who = u["ap"] if step in ("approved", "accepted") else u["fo"]
            projects.change_project_status(engine, who, code, step, "历史")
    funds = write(tmp_path, "funds.csv", FUNDS_ZH)
    assert import_file(engine, u["fo"], "funds", funds, history=_history(funds)).ok
    f = write(tmp_path, "alloc.csv", ALLOCATIONS)
    report = import_file(engine, u["fo"], "allocations", f, history=_history(f, "ap2"))
    assert report.ok, report.problems
    assert report.summary == {"allocations_recorded": 3, "allocations_already_recorded": 0, "history_marked": 3}
    reqs = projects.list_requests(engine, u["insp"]).items
    assert {(r.status, r.prepared_by, r.decided_by) for r in reqs} == {("approved", "fo", "ap2")}
    with engine.connect() as c:
        rows = c.execute(select(ENTRY.c.effective_date, ENTRY.c.kind, ENTRY.c.maker_id, ENTRY.c.checker_id,
                                HISTORY.c.source, HISTORY.c.row_no)
                         .select_from(ENTRY.join(HISTORY, HISTORY.c.entry_seq == ENTRY.c.seq))
                         .where(HISTORY.c.source == "allocations").order_by(ENTRY.c.seq)).all()
    assert [(str(r.effective_date), r.row_no) for r in rows] == [("2026-02-01", 2), ("2026-02-02", 3),
                                                                  ("2026-03-01", 4)]
    assert {(r.kind, r.maker_id, r.checker_id) for r in rows} == {("allocation", u.ids["fo"], u.ids["ap2"])}
    assert pool(engine) == {"CENTRAL-2026": 1_000_000_00 - 400_000_00 - 250_000_50, "TJ-AID-2026": 200_000_00}
    rose = projects.project_detail(engine, u["insp"], "YT-ROSE-01")
    assert (rose.allocated_fen, rose.balance_fen) == (500_000_00, 500_000_00)
    assert count(engine, AUDIT, AUDIT.c.action == "allocation.history") == 3
    before = snapshot(engine)
    again = import_file(engine, u["fo"], "allocations", f, history=_history(f, "ap2"))
    assert again.ok and again.summary == {"allocations_recorded": 0, "allocations_already_recorded": 3,
                                          "history_marked": 0}
    assert snapshot(engine) == before


def test_history_allocations_refuse_what_the_pool_cannot_pay_and_closed_or_planned_projects(engine, u, tmp_path):
    assert import_file(engine, u["fo"], "projects", write(tmp_path, "p.csv", PROJECTS_ZH)).ok
    projects.change_project_status(engine, u["ap"], "YT-ROSE-01", "approved", "批复")
    projects.change_project_status(engine, u["fo"], "YT-SUB-01", "closed", "撤项")
    funds = write(tmp_path, "funds.csv", FUNDS_ZH)
    assert import_file(engine, u["fo"], "funds", funds, history=_history(funds)).ok
    too_much = ("project_code,fund_code,amount,allocated_on\n"
                "YT-ROSE-01,CENTRAL-2026,600000,2026-02-01\n"
                "YT-ROSE-01,CENTRAL-2026,400000.01,2026-02-03\n")
    f = write(tmp_path, "too-much.csv", too_much)
    before = snapshot(engine)
    report = import_file(engine, u["fo"], "allocations", f, history=_history(f))
    assert not report.ok and problems(report) == [(3, "amount", "400000.01")]
    assert "may not go below zero" in report.problems[0].message
    statuses = ("project_code,fund_code,amount,allocated_on\n"
                "YT-SHEEP-01,CENTRAL-2026,1,2026-02-01\n"
                "YT-SUB-01,CENTRAL-2026,1,2026-02-01\n"
                "YT-ROSE-01,CENTRAL-2026,1,2025-12-31\n")
    f = write(tmp_path, "statuses.csv", statuses)
    report = import_file(engine, u["fo"], "allocations", f, history=_history(f))
    assert not report.ok
    assert problems(report) == [(2, "project_code", "YT-SHEEP-01"), (3, "project_code", "YT-SUB-01")]
    assert "planned" in report.problems[0].message and "closed" in report.problems[1].message
    # Before the money arrived in the pool: the journal's own refusal, named by row and date.
    early = "project_code,fund_code,amount,allocated_on\nYT-ROSE-01,CENTRAL-2026,1,2025-12-31\n"
    f = write(tmp_path, "early.csv", early)
    report = import_file(engine, u["fo"], "allocations", f, history=_history(f))
    assert not report.ok and problems(report) == [(2, "allocated_on", "2025-12-31")]
    assert snapshot(engine) == before


def test_a_pending_request_is_not_relabelled_history(engine, library, tmp_path):
    u = library
    f = write(tmp_path, "alloc.csv", ALLOCATIONS)
    assert import_file(engine, u["fo"], "allocations", f).ok
    before = snapshot(engine)
    report = import_file(engine, u["fo"], "allocations", f, history=_history(f))
    assert not report.ok and {p.row for p in report.problems} == {2, 3, 4}
    assert "pending" in report.problems[0].message
    assert snapshot(engine) == before


def test_the_direct_allocation_path_is_for_the_system_only(engine, library):
    u = library
    day = dt.date(2026, 3, 1)
    for who in ("fo", "ap"):
        with pytest.raises(PermissionDenied):
            services.allocate(engine, u[who], f"direct-{who}", "YT-ROSE-01", "CENTRAL-2026", 100, day)
        with pytest.raises(PermissionDenied):
            services.reallocate(engine, u[who], f"direct-m-{who}", "YT-ROSE-01", "YT-SUB-01", "CENTRAL-2026", 100, day)
    assert services.allocate(engine, SYSTEM, "direct-sys", "YT-ROSE-01", "CENTRAL-2026", 100, day).created


# ---------------------------------------------------------------------------------------------
# The command line: exit codes and row-named errors


def _cli(db_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {"HUIMIN_DATABASE_URL": db_url, "PATH": "/usr/bin:/bin"}
    return subprocess.run([*huimin_cmd(), "import", *args], capture_output=True, text=True, env=env, timeout=120)


def test_the_command_line_imports_projects_and_history_with_exit_codes(db_url, engine, u, tmp_path):
    p = write(tmp_path, "projects.csv", PROJECTS_ZH)
    out = _cli(db_url, "projects", str(p), "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["summary"] == {"projects_created": 3, "projects_unchanged": 0}
    for code in ("YT-ROSE-01", "YT-SHEEP-01"):
        projects.change_project_status(engine, u["ap"], code, "approved", "批复")
    funds = write(tmp_path, "funds.csv", FUNDS_ZH)
    out = _cli(db_url, "funds", str(funds), "--history", "--approved-by", "ap")
    assert out.returncode == 0, out.stderr
    # The importer (system) cannot name itself; an inspector may not approve: exit 2, nothing written.
    alloc = write(tmp_path, "alloc.csv", ALLOCATIONS)
    before = snapshot(engine)
    for approver in ("system", "insp"):
        out = _cli(db_url, "allocations", str(alloc), "--history", "--approved-by", approver)
        assert out.returncode == 2 and "approved_by" in out.stderr and "nothing was written" in out.stderr
    out = _cli(db_url, "allocations", str(alloc), "--history")
    assert out.returncode == 2 and "--approved-by" in (out.stderr + out.stdout)
    # More than the pool holds: the row is named.
    big = write(tmp_path, "big.csv", ALLOCATIONS.replace("250,000.50", "600,000.01"))
    out = _cli(db_url, "allocations", str(big), "--history", "--approved-by", "ap", "--json")
    assert out.returncode == 2
    errors = json.loads(out.stdout)["errors"]
    assert [(e["row"], e["column"], e["value"]) for e in errors] == [(4, "amount", "600000.01")]
    assert snapshot(engine) == before
    out = _cli(db_url, "allocations", str(alloc), "--history", "--approved-by", "ap")
    assert out.returncode == 0, out.stderr
    assert count(engine, HISTORY, HISTORY.c.source == "allocations") == 3
    again = _cli(db_url, "allocations", str(alloc), "--history", "--approved-by", "ap", "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["summary"]["allocations_recorded"] == 0
    # --history is for funds, allocations and payments only.
    out = _cli(db_url, "projects", str(p), "--history", "--approved-by", "ap")
    assert out.returncode == 2 and "history" in out.stderr

