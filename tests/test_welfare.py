"""Public-welfare posts (ledger.welfare; DESIGN.md §5): the pure rules first, then on every database lane
the roster import from CSV and XLSX (good and bad, all or nothing, idempotent), ending a post, one post per
household at a time (the service, then the database's own index and guard), the list with its filters and
masking, the export, and the monthly wage roll: exactly the posts held in the month, a second generation a
no-op, then disclosure and approval posting wage_paid entries to Expenses:Wage:<Type>.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import openpyxl
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from ledger import payments, projects, registry, services, welfare
from ledger.db import read_only
from ledger.imports.files import import_file
from ledger.journal import LedgerRefusal
from ledger.models import AuditLog, PaymentRow, WelfarePost
from ledger.permissions import SYSTEM, PermissionDenied
from ledger.projects import ProjectIn
from ledger.registry import TownshipIn
from ledger.welfare import PostFilter, PostIn, month_bounds, overlaps, post_problems, post_type_key, wage_ref
from tests.helpers import Users
from tests.test_registry import card, hh, pp, rid

POST, AUDIT, ROW = WelfarePost.__table__, AuditLog.__table__, PaymentRow.__table__
A, B = "阿羌乡", "木尕拉镇"
D0 = dt.date(2026, 1, 5)
TODAY = dt.date(2026, 5, 1)


# ---------------------------------------------------------------------------------------------
# Pure rules


def test_month_bounds_and_overlaps():
    assert month_bounds("2026-02") == (dt.date(2026, 2, 1), dt.date(2026, 2, 28))
    assert month_bounds("2024-02") == (dt.date(2024, 2, 1), dt.date(2024, 2, 29))
    assert month_bounds("2026-12") == (dt.date(2026, 12, 1), dt.date(2026, 12, 31))
    for bad in ("2026-13", "2026-00", "2026-4", "202604", "", None, "2026-04-01"):
        assert month_bounds(bad) is None, bad
    d = dt.date
    assert overlaps(d(2026, 1, 1), None, d(2026, 5, 1), None)  # two open posts always overlap
    assert overlaps(d(2026, 1, 1), d(2026, 3, 31), d(2026, 3, 31), None)  # sharing the last day
    assert not overlaps(d(2026, 1, 1), d(2026, 3, 31), d(2026, 4, 1), None)
    assert not overlaps(d(2026, 4, 1), None, d(2026, 1, 1), d(2026, 3, 31))
    assert wage_ref("P-1", "2026-04") == "WAGE-P-1-2026-04" and wage_ref("P-1", "2026-04", 2) == "WAGE-P-1-2026-04-2"
    assert post_type_key("护林员") == "forest" and post_type_key("PV") == "pv" and post_type_key("林") is None


def _post(**kw) -> PostIn:
    values = dict(post_no="P-001", post_type="forest", project_code="WELF", household_no="0001",
                  holder_id_number=rid(1), holder_name="户主1", monthly_wage_fen=80_000,
                  start_on=dt.date(2026, 1, 1), end_on=None, row=2)
    values.update(kw)
    return PostIn(**values)


@pytest.mark.parametrize(("change", "column", "message"), [
    ({}, None, None),
    ({"post_no": "P 1"}, "post_no", "a post number is"),
    ({"post_no": "P" * 33}, "post_no", "a post number is"),
    ({"post_type": "ranger"}, "post_type", "forest 护林员"),
    ({"holder_id_number": rid(1)[:-1] + ("0" if rid(1)[-1] != "0" else "1")}, "holder_id_number", "check character"),
    ({"holder_name": " "}, "holder_name", "the holder's name"),
    ({"monthly_wage_fen": 0}, "monthly_wage", "positive amount"),
    ({"monthly_wage_fen": 1_000_000}, "monthly_wage", "a digit too many"),
    ({"end_on": dt.date(2025, 12, 31)}, "end_on", "before the start date"),
])
def test_post_problems(change, column, message):
    got = post_problems(_post(**change), TODAY)
    if column is None:
        assert got == []
    else:
        assert [(p.field, p.row) for p in got] == [(column, 2)], got
        assert message in got[0].message


# ---------------------------------------------------------------------------------------------
# The use cases, on every lane

USERS = {"fo": ("finance_officer", None), "ap": ("approver", None), "insp": ("inspector", None),
         "lo": ("loan_officer", None), "fo-b": ("finance_officer", B)}


@pytest.fixture
def county(engine) -> Users:
    """Township A: households 0001–0005 (0001 with a spouse); township B: household 0009. A county-wide
    public-welfare-post project WELF funded 1,000,000 fen from CENTRAL, and a rose project in A."""
    u = Users(engine, USERS)
    registry.upsert_townships(engine, SYSTEM, [TownshipIn("AQ", A), TownshipIn("MGL", B)])
    registry.upsert_households(
        engine, u["fo"], [hh(f"000{i}", rid(i), name=f"户主{i}") for i in (1, 2, 3, 4, 5)]
        + [hh("0009", rid(9), name="户主9", township=B)],
        [pp(f"000{i}", rid(i), "head", name=f"户主{i}") for i in (1, 2, 3, 4, 5, 9)]
        + [pp("0001", rid(11), "spouse", name="配偶1")], create_villages=True)
    services.register_fund(engine, SYSTEM, "CENTRAL", "中央衔接资金", "central")
    services.receive_fund(engine, SYSTEM, "rc", "CENTRAL", 10_000_000, D0)
    projects.create_project(engine, u["fo"], ProjectIn("WELF", "生态护林员等公益性岗位", "welfare_post", D0, 5_000_000))
    projects.create_project(engine, u["fo"], ProjectIn("ROSE", "玫瑰花种植补助", "rose", D0, 1_000_000, township=A,
                                                       implementer="玫瑰合作社", standard_fen=300_000))
    for code in ("WELF", "ROSE"):
        projects.change_project_status(engine, u["ap"], code, "approved", "批复")
        projects.change_project_status(engine, u["fo"], code, "implementing", "实施")
    services.allocate(engine, SYSTEM, "a-w", "WELF", "CENTRAL", 1_000_000, dt.date(2026, 1, 10))
    return u


def count(engine, table, *where) -> int:
    with engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


HEADER_ZH = "岗位编号,岗位类型,项目编号,户编号,身份证号,姓名,月工资,上岗日期,离岗日期\n"


def roster_csv(tmp_path, *lines: str, name: str = "posts.csv"):
    p = tmp_path / name
    p.write_bytes((HEADER_ZH + "".join(line + "\n" for line in lines)).encode("utf-8-sig"))
    return p


GOOD = (f"P-001,护林员,WELF,0001,{rid(11)},配偶1,800,2026-01-01,",
        f"P-002,road,WELF,0002,{rid(2)},户主2,650.50,2026-04-15,",
        f"P-003,一般公益岗,WELF,0003,{rid(3)},户主3,1000,2025-07-01,2026-03-31",
        f"P-004,光伏管护员,WELF,0004,{rid(4)},户主4,900,2026-05-01,")


def test_roster_csv_imports_once_and_reimport_is_a_no_op(engine, county, tmp_path):
    u = county
    f = roster_csv(tmp_path, *GOOD)
    first = import_file(engine, u["fo"], "posts", f)
    assert first.ok, first.problems
    assert first.summary == {"posts_created": 4, "posts_ended": 0, "posts_unchanged": 0}
    with read_only(engine) as s:
        got = {r.post_no: r for r in s.execute(select(POST))}
    assert (got["P-001"].post_type, got["P-001"].holder_id_number, got["P-001"].monthly_wage_fen) == \
        ("forest", rid(11), 80_000)
    assert (got["P-002"].post_type, got["P-002"].monthly_wage_fen) == ("road", 65_050)
    assert (got["P-003"].end_on, got["P-004"].post_type) == (dt.date(2026, 3, 31), "pv")
    audits = count(engine, AUDIT, AUDIT.c.action == "welfare.post.create")
    assert audits == 4
    again = import_file(engine, u["fo"], "posts", f)
    assert again.ok and again.summary == {"posts_created": 0, "posts_ended": 0, "posts_unchanged": 4}
    assert count(engine, AUDIT, AUDIT.c.action.like("welfare.%")) == audits  # nothing written, not even audit

    # A dry run of a changed roster says what it would do and writes nothing.
    ended = roster_csv(tmp_path, GOOD[0].rstrip(",") + ",2026-04-30", name="ended.csv")
    rehearsed = import_file(engine, u["fo"], "posts", ended, dry_run=True)
    assert rehearsed.ok and rehearsed.summary["posts_ended"] == 1
    assert count(engine, POST, POST.c.end_on.is_(None)) == 3
    # The same row with an end date ends the post, once.
    out = import_file(engine, u["fo"], "posts", ended)
    assert out.ok and out.summary == {"posts_created": 0, "posts_ended": 1, "posts_unchanged": 0}
    assert count(engine, POST, POST.c.end_on.is_(None)) == 2
    # The original sheet (made before the ending) changes nothing; another end date is refused.
    assert import_file(engine, u["fo"], "posts", f).summary["posts_unchanged"] == 4
    other_end = import_file(engine, u["fo"], "posts", roster_csv(
        tmp_path, GOOD[0].rstrip(",") + ",2026-04-29", name="other.csv"))
    assert not other_end.ok and [(p.row, p.field) for p in other_end.problems] == [(2, "end_on")]
    assert "already ended on 2026-04-30" in other_end.problems[0].message


def test_a_changed_post_is_a_conflict_naming_column_and_values(engine, county, tmp_path):
    u = county
    assert import_file(engine, u["fo"], "posts", roster_csv(tmp_path, *GOOD)).ok
    changed = GOOD[1].replace("650.50", "700")
    out = import_file(engine, u["fo"], "posts", roster_csv(tmp_path, GOOD[0], changed, name="changed.csv"))
    assert not out.ok
    [p] = out.problems
    assert (p.row, p.field, p.value) == (3, "monthly_wage", "700.00")
    assert "registered with monthly_wage '650.50'" in p.message


def xlsx_roster(tmp_path, rows: list[list[object]]):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["post_no", "post_type", "project_code", "household_no", "holder_id_number", "holder_name",
               "monthly_wage", "start_on", "end_on"])
    for r in rows:
        ws.append(r)
    p = tmp_path / "roster.xlsx"
    wb.save(p)
    return p


def test_bad_roster_xlsx_lists_every_problem_and_writes_nothing(engine, county, tmp_path):
    u = county
    assert import_file(engine, u["fo"], "posts", roster_csv(tmp_path, GOOD[0])).ok  # 0001 holds P-001, open
    before = (count(engine, POST), count(engine, AUDIT))
    rows = [
        ["Q-1", "护林员", "WELF", "0002", rid(2), "户主2", 800, dt.date(2026, 1, 1), None],  # fine on its own
        ["Q-2", "护路员", "WELF", "9999", rid(5), "户主5", 800, dt.date(2026, 1, 1), None],  # unknown household
        ["Q-3", "草管员", "WELF", "0003", rid(2), "户主2", 800, dt.date(2026, 1, 1), None],  # not a member of 0003
        ["Q-4", "护林员", "WELF", "0001", rid(1), "户主1", 800, dt.date(2026, 2, 1), None],  # 0001 holds P-001
        ["Q-5", "护林员", "ROSE", "0005", rid(5), "户主5", 800, dt.date(2026, 1, 1), None],  # not a welfare project
        ["Q-6", "护林员", "WELF", "0002", rid(2), "户主2", 800, dt.date(2026, 3, 1), None],  # 0002 twice in the file
        ["Q-7", "一般公益岗", "WELF", "0004", rid(4), "户主4", 1000, dt.date(2026, 1, 1), None],  # fine
    ]
    out = import_file(engine, u["fo"], "posts", xlsx_roster(tmp_path, rows))
    assert not out.ok
    got = {(p.row, p.field): (p.value, p.message) for p in out.problems}
    assert set(got) == {(3, "household_no"), (4, "holder_id_number"), (5, "household_no"), (6, "project_code"),
                        (7, "household_no")}, out.problems
    assert [p.row for p in out.problems] == sorted(p.row for p in out.problems)
    assert got[(3, "household_no")] == ("9999", "no such household in the registry")
    assert got[(4, "holder_id_number")][0] == rid(2)
    assert "not an active member of household 0003" in got[(4, "holder_id_number")][1]
    assert "already holds post P-001 (forest 护林员, 2026-01-01 – open)" in got[(5, "household_no")][1]
    assert "one post per household at a time" in got[(5, "household_no")][1]
    assert "a rose project" in got[(6, "project_code")][1]
    assert "already holds post Q-1" in got[(7, "household_no")][1]
    assert (count(engine, POST), count(engine, AUDIT)) == before

    # A cell that cannot be a wage is named by its cell (the sheet is checked cell by cell before the
    # registry is asked), and nothing is written either.
    rows[6][6] = 12.345
    out = import_file(engine, u["fo"], "posts", xlsx_roster(tmp_path, [rows[0], rows[6]]))
    assert not out.ok
    [p] = out.problems
    assert (p.row, p.field, p.value) == (3, "monthly_wage", "12.345") and "more than two decimals" in p.message
    text_wage = roster_csv(tmp_path, f"Q-9,护林员,WELF,0002,{rid(2)},户主2,12.345,2026-01-01,", name="w.csv")
    out = import_file(engine, u["fo"], "posts", text_wage)
    assert [(p.row, p.field, p.value) for p in out.problems] == [(2, "monthly_wage", "12.345")]
    assert (count(engine, POST), count(engine, AUDIT)) == before


def test_end_post_once_and_one_post_per_household(engine, county):
    u = county
    welfare.upsert_posts(engine, u["fo"], [_post(holder_id_number=rid(11), holder_name="配偶1", row=None)])
    with pytest.raises(LedgerRefusal, match="give a reason"):
        welfare.end_post(engine, u["fo"], "P-001", dt.date(2026, 4, 30), " ")
    with pytest.raises(LedgerRefusal, match="before the post's start date 2026-01-01"):
        welfare.end_post(engine, u["fo"], "P-001", dt.date(2025, 12, 31), "调岗")
    with pytest.raises(PermissionDenied):
        welfare.end_post(engine, u["ap"], "P-001", dt.date(2026, 4, 30), "调岗")
    with pytest.raises(LedgerRefusal, match="no such post"):
        welfare.end_post(engine, u["fo-b"], "P-001", dt.date(2026, 4, 30), "调岗")  # another township's
    # While P-001 is open, the household takes no second post.
    with pytest.raises(LedgerRefusal, match="one post per household"):
        welfare.upsert_posts(engine, u["fo"], [_post(post_no="P-010", start_on=dt.date(2026, 5, 1))])
    view = welfare.end_post(engine, u["fo"], "P-001", dt.date(2026, 4, 30), "外出务工 left for work")
    assert (view.end_on, view.end_reason, view.active) == (dt.date(2026, 4, 30), "外出务工 left for work", False)
    with pytest.raises(LedgerRefusal, match="already ended on 2026-04-30"):
        welfare.end_post(engine, u["fo"], "P-001", dt.date(2026, 5, 31), "again")
    # Overlapping the ended post's dates is still refused; after them the household takes a new post.
    with pytest.raises(LedgerRefusal, match="already holds post P-001"):
        welfare.upsert_posts(engine, u["fo"], [_post(post_no="P-010", start_on=dt.date(2026, 4, 30))])
    report = welfare.upsert_posts(engine, u["fo"], [_post(post_no="P-010", start_on=dt.date(2026, 5, 1))])
    assert report.posts_created == 1
    with engine.connect() as c:
        actions = [r.action for r in c.execute(select(AUDIT.c.action).where(
            AUDIT.c.object_type == "welfare_post").order_by(AUDIT.c.id))]
    assert actions == ["welfare.post.create", "welfare.post.end", "welfare.post.create"]


def test_the_database_backs_the_roster_rules(engine, county):
    u = county
    welfare.upsert_posts(engine, u["fo"], [_post(row=None)])
    with read_only(engine) as s:
        post = s.execute(select(POST)).one()
    second = {c: getattr(post, c) for c in ("post_type", "project_id", "household_id", "holder_id_number",
                                             "holder_name", "monthly_wage_fen", "start_on", "created_by",
                                             "created_at")} | {"post_no": "SNEAK"}
    # A second open post for the household, written around the service: the partial unique index refuses.
    with pytest.raises(DBAPIError):
        with engine.begin() as c:
            c.execute(POST.insert().values(**second))
    for stmt in ("UPDATE welfare_post SET monthly_wage_fen = monthly_wage_fen + 1",
                 "UPDATE welfare_post SET holder_name = 'x'", "DELETE FROM welfare_post"):
        with pytest.raises(DBAPIError):
            with engine.begin() as c:
                c.execute(text(stmt))
    with engine.begin() as c:  # ending is the one change allowed, once
        c.execute(text("UPDATE welfare_post SET end_on = start_on, end_reason = 'x'"))
    with pytest.raises(DBAPIError):
        with engine.begin() as c:
            c.execute(text("UPDATE welfare_post SET end_on = NULL"))


def test_list_filters_masking_summary_and_export(engine, county, tmp_path):
    u = county
    assert import_file(engine, u["fo"], "posts", roster_csv(tmp_path, *GOOD)).ok
    on = dt.date(2026, 4, 20)
    page = welfare.list_posts(engine, u["fo"], PostFilter(as_of=on))
    assert [p.post_no for p in page.items] == ["P-001", "P-002", "P-003", "P-004"]
    assert [p.active for p in page.items] == [True, True, False, False]
    assert page.items[0].holder_id_number == rid(11) and page.items[0].township == A
    masked = welfare.list_posts(engine, u["ap"], PostFilter(as_of=on)).items[0].holder_id_number
    assert masked != rid(11) and masked.startswith(rid(11)[:6]) and masked.endswith(rid(11)[-4:])
    assert [p.post_no for p in welfare.list_posts(engine, u["insp"], PostFilter(active=True, as_of=on)).items] == \
        ["P-001", "P-002"]
    assert [p.post_no for p in welfare.list_posts(engine, u["fo"], PostFilter(active=False, as_of=on)).items] == \
        ["P-003", "P-004"]
    assert welfare.list_posts(engine, u["fo"], PostFilter(post_type="road")).total == 1
    assert welfare.list_posts(engine, u["fo"], PostFilter(township="AQ")).total == 4
    assert welfare.list_posts(engine, u["fo"], PostFilter(township=B)).total == 0
    assert welfare.list_posts(engine, u["fo"], PostFilter(q="户主3")).total == 1
    assert welfare.list_posts(engine, u["fo-b"]).total == 0  # township B sees none of A's posts
    with pytest.raises(PermissionDenied):
        welfare.list_posts(engine, u["lo"])
    summary = {t.post_type: (t.posts, t.monthly_wage_fen) for t in welfare.roster_summary(
        engine, u["fo"], PostFilter(active=True, as_of=on))}
    assert summary == {"general": (0, 0), "forest": (1, 80_000), "grassland": (0, 0), "road": (1, 65_050),
                       "pv": (0, 0)}
    name, data = welfare.export_posts(engine, u["ap"], PostFilter(), "xlsx")
    assert name.endswith(".xlsx")
    import io
    ws = openpyxl.load_workbook(io.BytesIO(data)).active
    rows = list(ws.iter_rows(values_only=True))
    assert len(rows) == 5 and rows[1][0] == "P-001" and rows[1][1] == "护林员" and rid(11) not in rows[1]
    with engine.connect() as c:
        [a] = c.execute(select(AUDIT).where(AUDIT.c.action == "export.posts")).all()
    assert json.loads(a.after)["rows"] == 4


# ---------------------------------------------------------------------------------------------
# The wage roll


def _roster(engine, u, tmp_path):
    assert import_file(engine, u["fo"], "posts", roster_csv(tmp_path, *GOOD)).ok


def test_wage_roll_pays_exactly_the_posts_held_in_the_month_and_again_is_a_no_op(engine, county, tmp_path):
    u = county
    _roster(engine, u, tmp_path)
    out = welfare.wage_roll(engine, u["fo"], "WELF", "2026-04", "WAGE-2026-04", dt.date(2026, 5, 5))
    # P-001 (open since January) and P-002 (from 15 April: a full month's wage, no pro rata). Not P-003
    # (ended 31 March) nor P-004 (from 1 May).
    assert (out.batch_no, out.rows_created, out.total_fen, out.already_in_a_roll) == ("WAGE-2026-04", 2, 145_050, 0)
    detail = payments.batch_detail(engine, u["fo"], "WAGE-2026-04")
    assert (detail.batch.status, detail.batch.purpose, detail.batch.declared_count,
            detail.batch.declared_total_fen) == ("draft", "wage", 2, 145_050)
    rows = {r.ref: r for r in detail.rows.items}
    assert set(rows) == {"WAGE-P-001-2026-04", "WAGE-P-002-2026-04"}
    r1 = rows["WAGE-P-001-2026-04"]
    assert (r1.household_no, r1.payee_id_number, r1.payee_name, r1.bank_account, r1.amount_fen, r1.period) == \
        ("0001", rid(11), "配偶1", card(1), 80_000, "2026-04")

    # Generating the month again, under any batch number, writes nothing.
    before = (count(engine, ROW), count(engine, AUDIT))
    again = welfare.wage_roll(engine, u["fo"], "WELF", "2026-04", "WAGE-2026-04-B", dt.date(2026, 5, 6))
    assert (again.batch_no, again.rows_created, again.already_in_a_roll, again.existing_batches) == \
        (None, 0, 2, ("WAGE-2026-04",))
    assert (count(engine, ROW), count(engine, AUDIT)) == before

    # A post cannot end before a month already in a roll.
    with pytest.raises(LedgerRefusal, match="wage for 2026-04 is already in a roll"):
        welfare.end_post(engine, u["fo"], "P-001", dt.date(2026, 3, 31), "辞职")

    # The batch takes the normal road: disclosure, approval by another user, posting.
    payments.disclose_batch(engine, u["fo"], "WAGE-2026-04", dt.date(2026, 5, 5), today=dt.date(2026, 5, 5))
    view = payments.approve_batch(engine, u["ap"], "WAGE-2026-04", today=dt.date(2026, 5, 15))
    assert view.status == "posted"
    with read_only(engine) as s:
        kinds = {r.kind for r in s.execute(text("SELECT kind FROM entry WHERE idempotency_key LIKE 'pay:WAGE-%'"))}
    assert kinds == {"wage_paid"}
    tb = {(r.account, r.fund): r.balance_fen for r in services.trial_balance(engine, SYSTEM)}
    assert tb[("Expenses:Wage:Forest", "CENTRAL")] == 80_000
    assert tb[("Expenses:Wage:Road", "CENTRAL")] == 65_050
    assert tb[("Assets:Project:WELF", "CENTRAL")] == 1_000_000 - 145_050
    st = payments.household_statement(engine, u["fo"], "0001")
    assert [(line.ref, line.amount_fen, line.purpose) for line in st.lines] == [("WAGE-P-001-2026-04", 80_000, "wage")]
    assert services.verify_journal(engine, SYSTEM).ok

    # May: P-001, P-002 and P-004 (from 1 May). A rejected roll is generated again under the next ref.
    may = welfare.wage_roll(engine, u["fo"], "WELF", "2026-05", "WAGE-2026-05", dt.date(2026, 6, 5))
    assert (may.rows_created, may.total_fen) == (3, 80_000 + 65_050 + 90_000)
    payments.reject_batch(engine, u["ap"], "WAGE-2026-05", "人数与考勤表不符")
    redo = welfare.wage_roll(engine, u["fo"], "WELF", "2026-05", "WAGE-2026-05-R", dt.date(2026, 6, 8))
    assert redo.rows_created == 3
    refs = {r.ref for r in payments.batch_detail(engine, u["fo"], "WAGE-2026-05-R").rows.items}
    assert refs == {"WAGE-P-001-2026-05-2", "WAGE-P-002-2026-05-2", "WAGE-P-004-2026-05-2"}


def test_wage_roll_refusals_and_roles(engine, county, tmp_path):
    u = county
    _roster(engine, u, tmp_path)
    paid = dt.date(2026, 5, 5)
    with pytest.raises(LedgerRefusal, match="YYYY-MM"):
        welfare.wage_roll(engine, u["fo"], "WELF", "2026-13", "W1", paid)
    with pytest.raises(LedgerRefusal, match="in or after the month it pays"):
        welfare.wage_roll(engine, u["fo"], "WELF", "2026-06", "W1", paid)
    with pytest.raises(LedgerRefusal, match="a rose project"):
        welfare.wage_roll(engine, u["fo"], "ROSE", "2026-04", "W1", paid)
    with pytest.raises(LedgerRefusal, match="no such project"):
        welfare.wage_roll(engine, u["fo"], "NOPE", "2026-04", "W1", paid)
    with pytest.raises(LedgerRefusal, match="no post of project WELF is held in 2025-01"):
        welfare.wage_roll(engine, u["fo"], "WELF", "2025-01", "W1", paid)
    with pytest.raises(LedgerRefusal, match="no post of project WELF is held in 2026-04 in 木尕拉镇"):
        welfare.wage_roll(engine, u["fo-b"], "WELF", "2026-04", "W1", paid)  # B's officer rolls B's posts only
    for who in ("ap", "insp", "lo"):
        with pytest.raises(PermissionDenied):
            welfare.wage_roll(engine, u[who], "WELF", "2026-04", "W1", paid)
    # The registry decides at preparation: a holder who left the household is not paid.
    registry.deactivate_person(engine, u["fo"], rid(11), reason="moved", on=dt.date(2026, 4, 25))
    with pytest.raises(LedgerRefusal) as exc:
        welfare.wage_roll(engine, u["fo"], "WELF", "2026-04", "W1", paid)
    assert [(p.where, p.field) for p in exc.value.problems] == [("payment WAGE-P-001-2026-04", "payee_id_number")]
    assert count(engine, ROW) == 0


def test_cli_wage_roll(db_url, engine, county, tmp_path):
    u = county
    _roster(engine, u, tmp_path)
    env = {**os.environ, "HUIMIN_DATABASE_URL": db_url, "PYTHONIOENCODING": "utf-8"}

    def huimin(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "ledger.cli", *args], env=env, cwd=tmp_path,
                              capture_output=True, text=True, encoding="utf-8", timeout=120)

    args = ["posts", "wage-roll", "--project", "WELF", "--period", "2026-04", "--batch", "CLI-04",
            "--paid-on", "2026-05-05", "--json"]
    first = huimin(*args)
    assert first.returncode == 0, first.stderr
    out = json.loads(first.stdout)
    assert (out["ok"], out["batch_no"], out["rows_created"], out["total"]) == (True, "CLI-04", 2, "1450.50")
    again = json.loads(huimin(*args).stdout)
    assert (again["batch_no"], again["rows_created"], again["existing_batches"]) == (None, 0, ["CLI-04"])
    bad = huimin("posts", "wage-roll", "--project", "ROSE", "--period", "2026-04", "--batch", "X",
                 "--paid-on", "2026-05-05", "--json")
    assert bad.returncode == 2 and json.loads(bad.stdout)["errors"][0]["column"] == "project_code"
