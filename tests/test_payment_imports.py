"""`huimin import payments|bank_returns FILE`: payment rolls and the bank's return file as officers
produce them (CSV in UTF-8 or GBK, XLSX with Excel dates and numbers, Chinese or English headers),
all or nothing, every error with its row, column and value, on both databases.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import subprocess

import openpyxl
import pytest
from sqlalchemy import func, select

from ledger import payments
from ledger.db import read_only
from ledger.imports.files import Declared, import_file
from ledger.models import HistoryRecord, PaymentBatch, PaymentRow
from ledger.permissions import SYSTEM
from tests.helpers import huimin_cmd
from tests.test_payments import PAY_ON, county  # noqa: F401  (the fixture)
from tests.test_registry import card, rid

ROW, BATCH, HISTORY = PaymentRow.__table__, PaymentBatch.__table__, HistoryRecord.__table__
HEADERS_ZH = "业务流水号,批次号,项目编号,户编号,收款人身份证号,收款人姓名,账号,金额,发放日期,用途,所属期\n"


def csv_roll(*lines: str) -> str:
    return HEADERS_ZH + "".join(line + "\n" for line in lines)


def line(n: int, amount: str = "3000", *, ref: str | None = None, id_number: str | None = None,
         paid_on: str = "2026-04-10", batch: str = "B1") -> str:
    return (f"{ref or f'R{n}'},{batch},ROSE,000{n},{id_number or rid(n)},户主{n},{card(n)},{amount},{paid_on},"
            f"产业补助,2026-04")


def write(tmp_path, name: str, text: str, encoding: str = "utf-8") -> object:
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


def rows(engine, *where) -> int:
    with read_only(engine) as s:
        return int(s.execute(select(func.count()).select_from(ROW).where(*where)).scalar_one())


def test_a_gbk_csv_roll_with_officers_amounts_imports_once(engine, county, tmp_path):  # noqa: F811
    text = csv_roll(line(1, '"3,000"'), line(2, "￥2500.5"), line(3, '"1,234.5"', paid_on="2026/4/10"))
    f = write(tmp_path, "roll.csv", text, "gbk")
    declared = Declared(3, 300_000 + 250_050 + 123_450)
    report = import_file(engine, SYSTEM, "payments", f, declared=declared)
    assert report.ok, report.problems
    assert report.summary["rows_created"] == 3 and report.summary["batches_created"] == 1
    detail = payments.batch_detail(engine, SYSTEM, "B1")
    assert [r.amount_fen for r in detail.rows.items] == [300_000, 250_050, 123_450]
    assert {r.paid_on for r in detail.rows.items} == {PAY_ON}
    again = import_file(engine, SYSTEM, "payments", f, declared=declared)
    assert again.ok and again.summary["rows_created"] == 0 and again.summary["rows_already_recorded"] == 3
    assert rows(engine) == 3


def test_a_bad_roll_lands_nothing_and_names_every_problem(engine, county, tmp_path):  # noqa: F811
    bad_check = rid(2)[:-1] + ("0" if rid(2)[-1] != "0" else "1")
    text = csv_roll(line(1), line(2, id_number=bad_check), line(3, "12.345"), line(4), line(1, ref="R1"))
    report = import_file(engine, SYSTEM, "payments", write(tmp_path, "roll.csv", text), declared=Declared(5, 1))
    assert not report.ok
    got = {(p.row, p.field) for p in report.problems}
    # The sheet's own checks come first: checksum, three decimals, a repeated ref.
    assert {(3, "payee_id_number"), (4, "amount"), (6, "ref")} <= got, got
    # The database's checks (unknown household 0004) come after a clean sheet; nothing was written.
    assert rows(engine) == 0
    report = import_file(engine, SYSTEM, "payments", write(tmp_path, "roll2.csv", csv_roll(line(1), line(4))),
                         declared=Declared(2, 600_000))
    assert not report.ok and [(p.row, p.field) for p in report.problems] == [(3, "household_no")]
    # Control totals that disagree with the rows: one clear error each, nothing written.
    report = import_file(engine, SYSTEM, "payments", write(tmp_path, "roll3.csv", csv_roll(line(1), line(2))),
                         declared=Declared(3, 600_000))
    assert not report.ok and [p.field for p in report.problems] == ["count"]
    assert rows(engine) == 0


def _xlsx(tmp_path, header: list[str], data: list[list]) -> object:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(header)
    for r in data:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    f = tmp_path / "roll.xlsx"
    f.write_bytes(buf.getvalue())
    return f


ENGLISH = ["ref", "batch_no", "project_code", "household_no", "payee_id_number", "payee_name", "bank_account",
           "amount", "paid_on", "purpose", "period"]


def test_an_xlsx_roll_with_excel_dates_and_numbers(engine, county, tmp_path):  # noqa: F811
    f = _xlsx(tmp_path, ENGLISH, [
        ["X1", "BX", "ROSE", "0001", rid(1), "户主1", card(1), 3000, dt.datetime(2026, 4, 10), "subsidy",
         dt.datetime(2026, 4, 1)],
        ["X2", "BX", "ROSE", "0002", rid(2), "户主2", card(2), 2999.99, dt.datetime(2026, 4, 10), "产业补助",
         "2026-04"],
    ])
    report = import_file(engine, SYSTEM, "payments", f, declared=Declared(2, 599_999))
    assert report.ok, report.problems
    assert rows(engine) == 2


def test_an_xlsx_with_a_bad_row_gives_the_json_shape_exit_2_and_an_error_sheet(engine, county, db_url,  # noqa: F811
                                                                              tmp_path):
    f = _xlsx(tmp_path, ENGLISH, [
        ["X1", "BX", "ROSE", "0001", rid(1), "户主1", card(1), 3000, "2026-04-10", "subsidy", "2026-04"],
        ["X2", "BX", "ROSE", "0002", rid(2), "别人", card(2), 3000, "2026-04-10", "subsidy", "2026-04"],
    ])
    errors = tmp_path / "errors.xlsx"
    env = {"HUIMIN_DATABASE_URL": db_url, "PATH": "/usr/bin:/bin"}
    out = subprocess.run(huimin_cmd() + ["import", "payments", str(f), "--count", "2", "--total", "6000", "--json",
                                         "--errors", str(errors)], capture_output=True, text=True, env=env)
    assert out.returncode == 2, out.stderr
    body = json.loads(out.stdout)
    assert body["ok"] is False
    assert [(e["row"], e["column"], e["value"]) for e in body["errors"]] == [(3, "payee_name", "别人")]
    sheet = list(openpyxl.load_workbook(errors).worksheets[0].iter_rows(values_only=True))
    assert not sheet[1][0] and "户主2" in sheet[2][0]
    assert rows(engine) == 0
    # Without control totals a roll is refused on the command line too (exit 2, nothing written).
    out = subprocess.run(huimin_cmd() + ["import", "payments", str(f)], capture_output=True, text=True, env=env)
    assert out.returncode == 2 and "control totals" in out.stderr


def test_cli_history_import_and_bank_return(engine, county, db_url, tmp_path):  # noqa: F811
    f = write(tmp_path, "hist.csv", csv_roll(line(1, "2000", batch="H1"), line(2, "2000", batch="H1")))
    env = {"HUIMIN_DATABASE_URL": db_url, "PATH": "/usr/bin:/bin"}
    out = subprocess.run(huimin_cmd() + ["import", "payments", str(f), "--history", "--approved-by", "ap", "--json"],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr + out.stdout
    assert json.loads(out.stdout)["summary"]["entries_posted"] == 2
    with read_only(engine) as s:
        assert s.execute(select(func.count()).select_from(HISTORY)).scalar_one() == 2
    out = subprocess.run(huimin_cmd() + ["import", "payments", str(f), "--history"], capture_output=True, text=True,
                         env=env)
    assert out.returncode == 2 and "--approved-by" in out.stderr

    # The bank's return for a roll posted today: one paid, one failed (reversed).
    payments.import_payments(engine, county["fo"], [
        payments.PaymentIn("N1", "B2", "ROSE", "0001", rid(1), "户主1", card(1), 1_000, PAY_ON, "subsidy", "2026-05")],
        declared_count=1, declared_total_fen=1_000)
    payments.disclose_batch(engine, county["fo"], "B2", dt.date(2026, 4, 1), today=dt.date(2026, 4, 1))
    payments.approve_batch(engine, county["ap"], "B2", today=dt.date(2026, 4, 11))
    ret = write(tmp_path, "return.csv", "业务流水号,结果,日期,原因\nN1,失败,2026-04-12,账户已销户\n", "gbk")
    out = subprocess.run(huimin_cmd() + ["import", "bank_returns", str(ret), "--json"], capture_output=True,
                         text=True, env=env)
    assert out.returncode == 0, out.stderr + out.stdout
    assert json.loads(out.stdout)["summary"] == {"paid": 0, "failed": 1, "already_recorded": 0}
    assert rows(engine, ROW.c.status == "failed", ROW.c.reversal_seq.is_not(None)) == 1
    bad = write(tmp_path, "bad-return.csv", "ref,result,returned_on\nN404,failed,2026-04-12\nN1,maybe,2026-04-12\n")
    out = subprocess.run(huimin_cmd() + ["import", "bank_returns", str(bad), "--json"], capture_output=True,
                         text=True, env=env)
    assert out.returncode == 2
    assert {(e["row"], e["column"]) for e in json.loads(out.stdout)["errors"]} == {(3, "result")}


@pytest.mark.parametrize("kind", ["payments", "bank_returns"])
def test_empty_and_wrong_files_get_one_clear_error(engine, county, tmp_path, kind):  # noqa: F811
    for name, data in (("empty.csv", b""), ("roll.pdf", b"%PDF-1.4 not a sheet")):
        p = tmp_path / name
        p.write_bytes(data)
        report = import_file(engine, SYSTEM, kind, p, declared=Declared(1, 1) if kind == "payments" else None)
        assert not report.ok and len(report.problems) == 1, report.problems


