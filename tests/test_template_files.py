"""Every registry and fund template of DESIGN §8, each as CSV and as XLSX, good and bad (one bad cell):
the good file lands once (a second import adds nothing), the bad one lands nothing and names the row and
column. Payments, bank returns, projects, allocations and posts have their own files (test_payment_imports,
test_project_imports, test_welfare); loans and repayments are refused by name until microcredit exists.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

import openpyxl
import pytest
from sqlalchemy import func, select

from ledger import registry
from ledger.db import read_only
from ledger.imports.files import import_file
from ledger.models import Fund, Household, Official, Person, ReferenceEntry
from ledger.permissions import SYSTEM
from tests.test_registry import card, rid

HEAD, CHILD, OFFICIAL = rid(1), rid(2, "20100709"), rid(3, "19700505")
BAD_ID = HEAD[:-1] + ("0" if HEAD[-1] != "0" else "1")  # the checksum fails

# kind -> (header, good rows, bad rows, (bad row, bad column), table counted)
CASES = {
    "households": (
        ["户编号", "乡镇", "行政村", "户主姓名", "户主身份证号", "家庭人口数", "户类型", "一卡通账号"],
        [["T001", "木尕拉镇", "阿克村", "买买提", HEAD, 2, "脱贫户", card(1)]],
        [["T001", "木尕拉镇", "阿克村", "买买提", HEAD, 2, "富裕户", card(1)]],
        (2, "status"), Household),
    "persons": (
        ["户编号", "姓名", "身份证号", "与户主关系"],
        [["H000", "户主零", rid(9), "户主"], ["H000", "古丽", CHILD, "子女"]],
        [["H000", "户主零", rid(9), "户主"], ["H000", "古丽", BAD_ID, "子女"]],
        (3, "id_number"), Person),
    "officials": (
        ["身份证号", "姓名", "职务", "乡镇", "行政村"],
        [[OFFICIAL, "艾力", "村委会主任", "木尕拉镇", "阿克村"]],
        [[OFFICIAL, "艾力", "村委会主任", "不存在乡", "阿克村"]],
        (2, "township"), Official),
    "reference": (
        ["身份证号", "姓名", "类别", "日期"],
        [[OFFICIAL, "艾力", "车辆", dt.date(2026, 2, 1)]],
        [[OFFICIAL, "艾力", "车辆", "2026-02-30"]],
        (2, "date"), ReferenceEntry),
    "funds": (
        ["资金编码", "资金名称", "资金性质", "指标文号", "金额", "到位日期"],
        [["CENTRAL", "中央衔接资金", "中央", "新财农〔2026〕1号", "1,000,000", dt.date(2026, 1, 5)]],
        [["CENTRAL", "中央衔接资金", "中央", "新财农〔2026〕1号", "12.345", dt.date(2026, 1, 5)]],
        (2, "amount"), Fund),
}


def _write(tmp_path, kind: str, fmt: str, header: list, rows: list) -> object:
    path = tmp_path / f"{kind}.{fmt}"
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(header)
        for r in rows:
            w.writerow([v.isoformat() if isinstance(v, dt.date) else v for v in r])
        path.write_text(buf.getvalue(), encoding="utf-8-sig")
    else:
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.append(header)
        for r in rows:
            ws.append(r)
        wb.save(path)
    return path


def _count(engine, model) -> int:
    with read_only(engine) as s:
        return int(s.execute(select(func.count()).select_from(model.__table__)).scalar_one())


@pytest.fixture
def town(engine):
    registry.upsert_townships(engine, SYSTEM, [registry.TownshipIn("MGL", "木尕拉镇")])
    registry.upsert_households(engine, SYSTEM, [registry.HouseholdIn(
        "H000", "木尕拉镇", "阿克村", "户主零", rid(9), 1, "poor", card(9))], create_villages=True)
    return engine


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("kind", list(CASES))
def test_each_template_good_and_bad(town, tmp_path, kind, fmt):
    header, good, bad, (bad_row, bad_column), model = CASES[kind]
    before = _count(town, model)
    refused = import_file(town, SYSTEM, kind, _write(tmp_path, f"bad-{kind}", fmt, header, bad))
    assert not refused.ok
    assert (bad_row, bad_column) in {(p.row, p.field) for p in refused.problems}, refused.problems
    assert _count(town, model) == before  # nothing landed
    landed = import_file(town, SYSTEM, kind, _write(tmp_path, kind, fmt, header, good))
    assert landed.ok, landed.problems
    after = _count(town, model)
    assert after > before
    again = import_file(town, SYSTEM, kind, _write(tmp_path, f"again-{kind}", fmt, header, good))
    assert again.ok and _count(town, model) == after
