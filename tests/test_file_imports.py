"""`huimin import KIND FILE`: officers' registry spreadsheets, all or nothing, on both databases."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import openpyxl
import pytest
from sqlalchemy import func, select

from ledger import registry
from ledger.db import read_only
from ledger.imports.files import import_file
from ledger.models import AuditLog, Household, Person
from ledger.permissions import SYSTEM, Actor, PermissionDenied

WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def rid(first17: str) -> str:
    """A valid resident ID, its check character computed here from GB 11643's published weights."""
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True)) % 11]


HEAD1, HEAD2, CHILD = rid("65322619800101001"), rid("65322619820305002"), rid("65322620100709003")

HOUSEHOLDS_ZH = (
    "户编号,乡镇,行政村,户主姓名,户主身份证号,家庭人口数,户类型,一卡通账号,联系电话\n"
    f"H001,木尕拉镇,阿克村,买买提,{HEAD1},3,脱贫户,6217001234567890,13900000000\n"
    f"H002,MGL,阿克村,阿依古丽,{HEAD2},2,poor,6217001234567891,\n"
)


def counts(engine) -> tuple[int, int, int]:
    with read_only(engine) as s:
        return (s.execute(select(func.count()).select_from(Household.__table__)).scalar_one(),
                s.execute(select(func.count()).select_from(Person.__table__)).scalar_one(),
                s.execute(select(func.count()).select_from(AuditLog.__table__)).scalar_one())


@pytest.fixture
def county(engine):
    registry.upsert_townships(engine, SYSTEM, [registry.TownshipIn("MGL", "木尕拉镇")])
    return engine


def write(tmp_path, name: str, text: str, encoding: str = "utf-8") -> object:
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


def test_households_csv_with_chinese_headers_imports_once(county, tmp_path):
    f = write(tmp_path, "hh.csv", HOUSEHOLDS_ZH, "utf-8-sig")
    first = import_file(county, SYSTEM, "households", f, create_villages=True)
    assert first.ok, first.problems
    assert first.summary["households_created"] == 2 and first.summary["villages_created"] == 1
    before = counts(county)
    again = import_file(county, SYSTEM, "households", f, create_villages=True)
    assert again.ok and again.summary["households_unchanged"] == 2
    assert counts(county) == before  # nothing written, not even audit rows


def test_dry_run_checks_against_the_database_and_writes_nothing(county, tmp_path):
    f = write(tmp_path, "hh.csv", HOUSEHOLDS_ZH)
    before = counts(county)
    refused = import_file(county, SYSTEM, "households", f, dry_run=True)  # unknown village: database check
    assert not refused.ok and {p.row for p in refused.problems} == {2, 3}
    assert all(p.field == "village" for p in refused.problems)
    rehearsed = import_file(county, SYSTEM, "households", f, dry_run=True, create_villages=True)
    assert rehearsed.ok and rehearsed.summary["households_created"] == 2
    assert counts(county) == before


def test_persons_gbk_csv_with_a_bad_checksum_lands_nothing_and_names_the_row(county, tmp_path):
    assert import_file(county, SYSTEM, "households", write(tmp_path, "hh.csv", HOUSEHOLDS_ZH), create_villages=True).ok
    bad_id = CHILD[:-1] + ("0" if CHILD[-1] != "0" else "1")
    persons = ("户编号,姓名,身份证号,与户主关系\n"
               f"H001,买买提,{HEAD1},户主\n"
               f"H001,小买,{CHILD},子女\n"
               f"H001,错号,{bad_id},配偶\n")
    f = write(tmp_path, "persons.csv", persons, "gbk")
    before = counts(county)
    report = import_file(county, SYSTEM, "persons", f)
    assert not report.ok
    assert [(p.row, p.field, p.value) for p in report.problems] == [(4, "id_number", bad_id)]
    assert counts(county) == before
    fixed = write(tmp_path, "persons2.csv", persons.replace(f"H001,错号,{bad_id},配偶\n", ""), "gbk")
    assert import_file(county, SYSTEM, "persons", fixed).ok
    assert counts(county)[1] == before[1] + 1


def test_xlsx_with_an_error_sheet_and_the_json_shape(county, db_url, tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["household_no", "township", "village", "head_name", "head_id_number", "size", "status",
               "bank_account", "phone"])
    ws.append(["H010", "木尕拉镇", "阿克村", "库尔班", HEAD1, 4, "边缘易致贫户", "6217001234567893", None])
    ws.append(["H011", "木尕拉镇", "阿克村", "热依拉", HEAD1, "x", "unknown", "6217001234567891", None])
    buf = io.BytesIO()
    wb.save(buf)
    f = tmp_path / "hh.xlsx"
    f.write_bytes(buf.getvalue())
    errors = tmp_path / "errors.xlsx"
    env = {"HUIMIN_DATABASE_URL": db_url, "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "ledger.cli", "import", "households", str(f), "--json",
                          "--create-villages", "--errors", str(errors)], capture_output=True, text=True, env=env)
    assert out.returncode == 2, out.stderr
    body = json.loads(out.stdout)
    assert body["ok"] is False
    got = {(e["row"], e["column"]) for e in body["errors"]}
    assert {(3, "size"), (3, "status"), (3, "head_id_number")} <= got  # the repeated head ID is named too
    assert all(set(e) == {"row", "column", "value", "message"} for e in body["errors"])
    sheet = openpyxl.load_workbook(errors).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][1:3] == ("household_no", "township")  # the officer's own columns, after the error column
    assert not rows[1][0]  # row 2 was fine (its card passes the Luhn check)
    assert rows[2][0] and "H011" in rows[2]  # row 3 carries its messages beside its own values
    assert counts(county)[0] == 0


def test_refusals_before_reading(county, tmp_path):
    f = write(tmp_path, "hh.csv", HOUSEHOLDS_ZH)
    with pytest.raises(PermissionDenied):
        import_file(county, Actor(9, "ins", "inspector"), "households", f)
    assert "cannot be imported yet" in import_file(county, SYSTEM, "loans", f).problems[0].message
    empty = write(tmp_path, "empty.csv", "")
    report = import_file(county, SYSTEM, "households", empty)
    assert not report.ok and len(report.problems) == 1


FUNDS_ZH = (
    "资金编码,资金名称,资金性质,指标文号,金额,到位日期\n"
    "CENTRAL-2026,中央财政衔接推进乡村振兴补助资金,中央,新财农〔2026〕1号,\"1,234,567.5\",2026-01-05\n"
    "TJ-AID-2026,天津市东西部协作资金,东西部协作,津协〔2026〕3号,¥200,2026/1/8\n"
)


def _pool(engine) -> dict[str, int]:
    from ledger import services

    return {r.fund: r.balance_fen for r in services.trial_balance(engine, SYSTEM)
            if r.account == "Assets:Treasury:Pool"}


def test_funds_sheet_registers_sources_and_posts_receipts_once(engine, tmp_path):
    f = write(tmp_path, "funds.csv", FUNDS_ZH)
    first = import_file(engine, SYSTEM, "funds", f)
    assert first.ok, first.problems
    assert first.summary == {"funds_created": 2, "receipts_posted": 2, "receipts_already_posted": 0}
    assert _pool(engine) == {"CENTRAL-2026": 123456750, "TJ-AID-2026": 20000}
    again = import_file(engine, SYSTEM, "funds", f)
    assert again.ok and again.summary == {"funds_created": 0, "receipts_posted": 0, "receipts_already_posted": 2}
    assert _pool(engine) == {"CENTRAL-2026": 123456750, "TJ-AID-2026": 20000}


def test_funds_sheet_with_bad_rows_lands_nothing(engine, tmp_path):
    bad = FUNDS_ZH.replace("¥200", "12.345")
    report = import_file(engine, SYSTEM, "funds", write(tmp_path, "funds.csv", bad))
    assert not report.ok and [(p.row, p.field, p.value) for p in report.problems] == [(3, "amount", "12.345")]
    assert _pool(engine) == {}
    # A fund already registered cannot be re-classified by a sheet; and the same fund and day with
    # another amount is a conflict, not a second receipt.
    assert import_file(engine, SYSTEM, "funds", write(tmp_path, "ok.csv", FUNDS_ZH)).ok
    reclassified = FUNDS_ZH.replace("东西部协作", "县级").replace("¥200", "¥300")
    report = import_file(engine, SYSTEM, "funds", write(tmp_path, "re.csv", reclassified))
    assert not report.ok and (3, "kind") in {(p.row, p.field) for p in report.problems}
    changed = FUNDS_ZH.replace("¥200", "¥300")
    report = import_file(engine, SYSTEM, "funds", write(tmp_path, "ch.csv", changed))
    assert not report.ok and [(p.row, p.field) for p in report.problems] == [(3, "key")]
    assert _pool(engine) == {"CENTRAL-2026": 123456750, "TJ-AID-2026": 20000}
