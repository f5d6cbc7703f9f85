"""ledger/imports/tabular.py and cells.py: officers' spreadsheets in, every problem out at once.

Real files are made here (XLSX with openpyxl, CSV in UTF-8, UTF-8 with BOM, GBK, UTF-16) and the
problems are asserted exactly, with the row numbers the officer sees (the header is row 1).
Pure, no database.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import time
import zipfile
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook

from ledger.imports import tabular
from ledger.imports.cells import (
    parse_amount_cell,
    parse_date_cell,
    parse_enum_cell,
    parse_int_cell,
    parse_month_cell,
    parse_percent_cell,
    validate_rows,
)
from ledger.imports.tabular import (
    ERROR_COLUMN,
    MAX_FILE_BYTES,
    TEMPLATES,
    error_sheet,
    read_table,
    read_table_path,
    read_table_stream,
)

AS_OF = dt.date(2026, 3, 2)
WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def with_check(first17: str) -> str:
    """GB 11643-1999 as published, computed here rather than by the code under test."""
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True)) % 11]


def luhn_card(payload: str) -> str:
    for d in "0123456789":
        digits = [int(c) for c in payload + d][::-1]
        if sum(x if i % 2 == 0 else (2 * x - 9 if x > 4 else 2 * x) for i, x in enumerate(digits)) % 10 == 0:
            return payload + d
    raise AssertionError


ID1 = with_check("65322619800101001")
ID2 = with_check("65322619850615002")
ID3 = with_check("65322619921130003")
CARD = luhn_card("621700001234567")
PAYMENTS = TEMPLATES["payments"]
PERSONS = TEMPLATES["persons"]
HOUSEHOLDS = TEMPLATES["households"]
PAY_ZH = ["业务流水号", "批次号", "项目编号", "户编号", "收款人身份证号", "收款人姓名", "账号", "金额", "发放日期",
          "用途", "所属期"]
PAY_EN = ["ref", "batch_no", "project_code", "household_no", "payee_id_number", "payee_name", "bank_account", "amount",
          "paid_on", "purpose", "period"]


def pay_row(ref: str, amount: str = "200", paid_on: str = "2026-03-02", id_number: str = ID1,
            purpose: str = "产业补助", period: str = "2026-03") -> list[str]:
    return [ref, "B2026-03", "P-ROSE-01", "H001", id_number, "阿依古丽", CARD, amount, paid_on, purpose, period]


def csv_bytes(rows: list[list[object]], encoding: str = "utf-8", delimiter: str = ",") -> bytes:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return buf.getvalue().encode(encoding)


def xlsx_bytes(rows: list[list[object]], setup=None) -> bytes:
    wb = Workbook()
    ws = wb.active
    for r in rows:
        ws.append(r)
    if setup:
        setup(wb, ws)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def patch_sheet_xml(data: bytes, old: str, new: str) -> bytes:
    """Rewrite the first sheet's XML, to hold values exactly as Excel writes them."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            body = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                text = body.decode()
                assert old in text
                body = text.replace(old, new).encode()
            dst.writestr(item, body)
    return out.getvalue()


def problems_of(result) -> list[tuple[int | None, str, str, str]]:
    return [(p.row, p.field, p.value, p.message) for p in result.problems]


def only_problem(result) -> tuple[int | None, str]:
    assert len(result.problems) == 1, result.problems
    return result.problems[0].row, result.problems[0].message


# --------------------------------------------------------------------------------------------
# The templates are DESIGN.md §8, column by column

DESIGN_8 = {
    "households": [("household_no", "户编号"), ("township", "乡镇"), ("village", "行政村"), ("head_name", "户主姓名"),
                   ("head_id_number", "户主身份证号"), ("size", "家庭人口数"), ("status", "户类型"),
                   ("bank_account", "一卡通账号"), ("phone", "联系电话")],
    "persons": [("household_no", "户编号"), ("name", "姓名"), ("id_number", "身份证号"), ("relation", "与户主关系")],
    "officials": [("id_number", "身份证号"), ("name", "姓名"), ("position", "职务"), ("township", "乡镇"),
                  ("village", "行政村")],
    "reference": [("id_number", "身份证号"), ("name", "姓名"), ("kind", "类别"), ("date", "日期")],
    "funds": [("fund_code", "资金编码"), ("fund_name", "资金名称"), ("kind", "资金性质"), ("document_no", "指标文号"),
              ("amount", "金额"), ("received_on", "到位日期")],
    "projects": [("project_code", "项目编号"), ("name", "项目名称"), ("industry", "产业"), ("township", "乡镇"),
                 ("implementer", "实施主体"), ("budget", "预算"), ("standard", "补助标准"), ("start_on", "开始日期"),
                 ("end_on", "结束日期")],
    "allocations": [("project_code", "项目编号"), ("fund_code", "资金编码"), ("amount", "金额"),
                    ("allocated_on", "安排日期")],
    # Beyond §8: the in-kind columns (what, how many, at what price), optional.
    "payments": list(zip(PAY_EN, PAY_ZH, strict=True)) + [("item", "物品"), ("quantity", "数量"),
                                                           ("unit_price", "单价")],
    # Not §8's own: the bank's return file for a payment roll (回盘文件).
    "bank_returns": [("ref", "业务流水号"), ("result", "结果"), ("returned_on", "日期"), ("note", "原因")],
    "loans": [("loan_no", "贷款编号"), ("bank", "贷款银行"), ("household_no", "户编号"),
              ("borrower_id_number", "借款人身份证号"), ("borrower_name", "借款人姓名"), ("principal", "贷款金额"),
              ("annual_rate", "年利率(%)"), ("term_months", "期限(月)"), ("start_on", "放款日期"),
              ("method", "还款方式"), ("purpose", "用途")],
    "repayments": [("ref", "业务流水号"), ("loan_no", "贷款编号"), ("paid_on", "还款日期"), ("amount", "还款金额")],
    # Not §8's own: the roster of public-welfare posts (ledger.welfare).
    "posts": [("post_no", "岗位编号"), ("post_type", "岗位类型"), ("project_code", "项目编号"),
              ("household_no", "户编号"), ("holder_id_number", "身份证号"), ("holder_name", "姓名"),
              ("monthly_wage", "月工资"), ("start_on", "上岗日期"), ("end_on", "离岗日期")],
}
DESIGN_8_CHOICES = {
    ("households", "status"): [("poor", "未脱贫户"), ("exited", "脱贫户"), ("edge", "边缘易致贫户"),
                               ("monitored", "监测户"), ("general", "一般农户")],
    ("persons", "relation"): [("head", "户主"), ("spouse", "配偶"), ("child", "子女"), ("parent", "父母"),
                              ("other", "其他")],
    ("reference", "kind"): [("death", "死亡"), ("public_employee", "财政供养"), ("vehicle", "车辆"),
                            ("business", "工商")],
    ("funds", "kind"): [("central", "中央"), ("region", "自治区"), ("prefecture", "地区"), ("county", "县级"),
                        ("partner_aid", "东西部协作"), ("social", "社会帮扶")],
    ("projects", "industry"): [("rose", "玫瑰花"), ("grape", "葡萄"), ("vegetable", "设施蔬菜"), ("marigold", "万寿菊"),
                               ("fungus", "食用菌"), ("sheep", "多胎肉羊"), ("goose", "鹅"), ("pigeon", "肉鸽"),
                               ("rabbit", "兔"), ("hotan_sheep", "和田羊"), ("welfare_post", "公益岗位"),
                               ("interest_subsidy", "贴息"), ("infrastructure", "基础设施"), ("other", "其他")],
    ("payments", "purpose"): [("subsidy", "产业补助"), ("wage", "公益岗位工资"), ("in_kind", "实物")],
    ("loans", "method"): [("annuity", "等额本息"), ("equal-principal", "等额本金"),
                          ("interest-only", "按季付息到期还本")],
    ("bank_returns", "result"): [("paid", "成功"), ("failed", "失败")],
    ("posts", "post_type"): [("general", "一般公益岗"), ("forest", "护林员"), ("grassland", "草管员"),
                             ("road", "护路员"), ("pv", "光伏管护员")],
}


def test_the_ten_templates_are_those_of_design_section_8():
    assert list(TEMPLATES) == list(DESIGN_8)
    for name, columns in DESIGN_8.items():
        assert [(c.key, c.zh) for c in TEMPLATES[name].columns] == columns, name
        for c in TEMPLATES[name].columns:
            assert c.kind in tabular.KINDS
            if c.kind == tabular.ENUM:
                assert [(ch.key, ch.zh) for ch in c.choices] == DESIGN_8_CHOICES[(name, c.key)]
        tabular.header_lookup(TEMPLATES[name])  # raises if two columns share a header or an alias
    enums = {(t, c.key) for t, s in TEMPLATES.items() for c in s.columns if c.kind == tabular.ENUM}
    assert enums == set(DESIGN_8_CHOICES)
    optional = {(t, c.key) for t, s in TEMPLATES.items() for c in s.columns if not c.required}
    assert optional == {("households", "phone"), ("projects", "township"), ("projects", "implementer"),
                        ("projects", "standard"), ("officials", "village"), ("posts", "end_on"),
                        ("payments", "bank_account"), ("payments", "item"), ("payments", "quantity"),
                        ("payments", "unit_price"), ("bank_returns", "note")}


# --------------------------------------------------------------------------------------------
# CSV: encodings, delimiters, headers


@pytest.mark.parametrize(
    ("encoding", "reported"),
    [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gbk", "gb18030"), ("gb18030", "gb18030"), ("utf-16", "utf-16")],
)
def test_csv_in_every_encoding_officers_save(encoding, reported):
    data = csv_bytes([PAY_ZH, pay_row("R1"), pay_row("R2", amount="￥300")], encoding)
    table = read_table(data, "发放清册.csv", PAYMENTS)
    assert table.ok, table.problems
    assert (table.format, table.encoding) == ("csv", reported)
    assert [r.row for r in table.rows] == [2, 3]
    assert table.rows[0].values["payee_name"] == "阿依古丽"
    assert table.rows[1].values["amount"] == "￥300"
    assert [r["amount"] for r in validate_rows(table, PAYMENTS, as_of=AS_OF).records] == [20000, 30000]


@pytest.mark.parametrize("delimiter", [",", "\t", ";"])
def test_csv_delimiter_is_sniffed(delimiter):
    table = read_table(csv_bytes([PAY_EN, pay_row("R1")], delimiter=delimiter), "p.csv", PAYMENTS)
    assert table.ok and table.rows[0].values["ref"] == "R1"


def test_csv_sep_line_names_the_delimiter_and_is_not_a_row():
    data = b"sep=;\r\n" + csv_bytes([PAY_EN, pay_row("R1,5")], delimiter=";")
    table = read_table(data, "p.csv", PAYMENTS)
    assert table.ok and [(r.row, r.values["ref"]) for r in table.rows] == [(2, "R1,5")]


def test_headers_english_any_case_or_chinese_padded_with_spaces_and_full_width_forms():
    header = ["REF", " Batch_No ", "项目编号", "户　编　号", "收款人身份证号码", "收款人姓名 ", "银行账号", "*金额",
              "发放日期\n（必填）", "用途", "所属月份"]
    table = read_table(csv_bytes([header, pay_row("R1")]), "p.csv", PAYMENTS)
    assert table.ok, table.problems
    assert [c.key for c in table.columns] == PAY_EN
    assert table.columns[3].header == "户　编　号"
    loans = TEMPLATES["loans"]
    assert tabular.header_lookup(loans)[tabular.header_name_key("年利率（％）")] == "annual_rate"


def test_unknown_columns_are_ignored_with_a_warning_and_a_suggestion():
    header = [*PAY_ZH, "备注", "户编码"]
    table = read_table(csv_bytes([header, [*pay_row("R1"), "已核实", "x"]]), "p.csv", PAYMENTS)
    assert table.ok
    assert [(w.where, w.message) for w in table.warnings] == [
        ("L1", "column L '备注' is not part of the payments template and is ignored"),
        ("M1", "column M '户编码' is not part of the payments template and is ignored (did you mean 户编号 "
               "(household_no)?)"),
    ]
    assert "备注" not in table.rows[0].values


def test_missing_duplicated_and_blank_headers_are_each_one_clear_error():
    header = ["ref", "batch_no", "", "project_code", "户编号", "household_no", "收款人身份证号", "收款人姓名", "账号",
              "金额", "用途"]
    table = read_table(csv_bytes([header, pay_row("R1")]), "p.csv", PAYMENTS)
    assert table.rows == ()
    assert problems_of(table) == [
        (1, "C", "", "header cell C1 is blank (after 'batch_no' in B1: merged header cells?): every column needs its "
                     "own header in row 1; unmerge the cells and name each column"),
        (1, "household_no", "household_no", "columns E and F are both 户编号 (household_no): keep one of them"),
        (1, "paid_on", "", "required column 发放日期 (paid_on) is missing from row 1"),
        (1, "period", "", "required column 所属期 (period) is missing from row 1"),
    ]


def test_a_title_row_above_the_header_is_named_as_such():
    rows = [["玉田县2026年产业补助发放清册"], [], PAY_ZH, pay_row("R1")]
    table = read_table(csv_bytes(rows), "p.csv", PAYMENTS)
    assert only_problem(table) == (None, "row 1 is not the header: the header is in row 3, under "
                                         "'玉田县2026年产业补助发放清册'; delete the rows above it so that the header "
                                         "is row 1")


def test_the_headers_of_another_template_are_named():
    rows = [["户编号", "姓名", "身份证号", "与户主关系"], ["H001", "阿依古丽", ID1, "户主"]]
    table = read_table(csv_bytes(rows), "persons.csv", HOUSEHOLDS)
    assert table.problems[-1].message == ("these headers are those of the persons template (家庭成员): was the wrong "
                                          "import chosen?")


def test_empty_blank_and_header_only_files():
    assert only_problem(read_table(b"", "p.csv", PAYMENTS)) == (None, "the file is empty")
    assert only_problem(read_table(b"\r\n \r\n", "p.csv", PAYMENTS)) == (None, "the file is empty")
    assert only_problem(read_table(b"\xef\xbb\xbf", "p.csv", PAYMENTS)) == (None, "the file has no rows: expected a "
                                                                                 "header row and data rows")
    header_only = read_table(csv_bytes([PAY_ZH]), "p.csv", PAYMENTS)
    assert only_problem(header_only) == (None, "the file has a header but no data rows")
    blank_rows = read_table(csv_bytes([PAY_ZH, [], ["", " ", ""]]), "p.csv", PAYMENTS)
    assert only_problem(blank_rows) == (None, "the file has a header but no data rows")
    assert only_problem(read_table(csv_bytes([[], PAY_ZH, pay_row("R1")]), "p.csv", PAYMENTS)) == (
        None, "row 1 is blank and the first filled row is 2: the header must be in row 1")
    empty_xlsx = read_table(xlsx_bytes([]), "p.xlsx", PAYMENTS)
    assert only_problem(empty_xlsx) == (None, "the file has no rows: expected a header row and data rows")


def test_blank_rows_are_skipped_and_row_numbers_stay_those_of_the_sheet():
    rows = [PAY_ZH, pay_row("R1"), [], ["", "", ""], pay_row("R2"), [], []]
    table = read_table(csv_bytes(rows), "p.csv", PAYMENTS)
    assert [r.row for r in table.rows] == [2, 5]


def test_a_multi_line_cell_is_one_row_as_in_excel():
    rows = [PAY_ZH, pay_row("R1"), [*pay_row("R2")[:5], "阿依古丽\n买买提", *pay_row("R2")[6:]], pay_row("R3")]
    table = read_table(csv_bytes(rows), "p.csv", PAYMENTS)
    assert [r.row for r in table.rows] == [2, 3, 4]
    v = validate_rows(table, PAYMENTS, as_of=AS_OF)
    assert [(p.row, p.field, p.message) for p in v.problems] == [
        (3, "payee_name", "contains a line break, tab or control character: keep the value on one line")]


def test_a_stray_quote_is_named_rather_than_swallowing_the_rest_of_the_file():
    stray = ",".join(pay_row("R2")).replace("阿依古丽", '"阿依古丽')
    text = "\r\n".join([",".join(PAY_EN), ",".join(pay_row("R1")), stray, ",".join(pay_row("R3"))]) + "\r\n"
    table = read_table(text.encode(), "p.csv", PAYMENTS)
    assert only_problem(table) == (3, 'a quote (") in row 3 is never closed, so the rest of the file runs into one '
                                      "cell: remove the stray quote or close it")


def test_text_that_is_neither_utf8_nor_gbk_is_refused():
    data = ",".join(PAY_EN).encode() + b"\r\nR1,\x80\xff\r\n"
    assert only_problem(read_table(data, "p.csv", PAYMENTS)) == (
        None, "the file is neither UTF-8 nor GBK text (not UTF-8 from line 2, byte 114): save it from Excel as "
              '"CSV UTF-8" or as Excel Workbook (.xlsx)')


# --------------------------------------------------------------------------------------------
# What is not a spreadsheet, and what is too big


def _docx() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document/>")
    return buf.getvalue()


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("清册.csv", "a,b\n")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504,
         "this is an old Excel 97-2003 (.xls) or WPS (.et) workbook, or a password-protected one: open it and save it "
         "as Excel Workbook (.xlsx) or CSV, without a password"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj",
         "this is a PDF document, not a spreadsheet: import the Excel (.xlsx) or CSV file it was made from"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "this is an image (PNG), not a spreadsheet"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "this is an image (JPEG), not a spreadsheet"),
        (_docx(), "this is a Word document, not a spreadsheet"),
        (_zip(), "this is a zip archive, not an Excel workbook: unpack it and import the spreadsheet inside"),
        (b"PK\x03\x04broken", "the file looks like an Excel workbook (.xlsx) but is damaged or incomplete: save it "
                              "again"),
        ("<html><body><table><tr><td>户编号</td></tr></table></body></html>".encode(),
         "this is a web page or XML file (often exported by another system with an .xls name), not a workbook: "
         "open it in Excel and save it as Excel Workbook (.xlsx)"),
        (b"ref,batch\x00no\n", "this is a binary file, not a spreadsheet: import an Excel Workbook (.xlsx) or a CSV "
                               "file"),
    ],
    ids=["xls", "pdf", "png", "jpeg", "docx", "zip", "broken-xlsx", "html-as-xls", "binary"],
)
def test_what_is_not_a_csv_or_xlsx_gets_one_clear_problem(data, message):
    table = read_table(data, "清册.xls", PAYMENTS)
    assert only_problem(table) == (None, message)
    assert table.rows == ()


def test_a_50_mb_file_is_refused_from_its_size_before_it_is_read(tmp_path):
    path = tmp_path / "big.csv"
    block = bytes(range(256)) * 4096  # 1 MiB of junk
    with path.open("wb") as fh:
        for _ in range(50):
            fh.write(block)
    started = time.perf_counter()
    table = read_table_path(path, PAYMENTS)
    assert time.perf_counter() - started < 1.0  # a stat, not a read
    assert only_problem(table) == (None, "the file is larger than 20 MiB (50.0 MiB): split it into smaller files")
    assert table.problems[0].value == "big.csv"


def test_an_upload_stream_is_read_no_further_than_the_limit():
    class Endless(io.RawIOBase):
        read_total = 0

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            n = 1 << 20 if n is None or n < 0 else n
            self.read_total += n
            return b"x" * n

    stream = Endless()
    table = read_table_stream(stream, "upload.csv", PAYMENTS)
    assert only_problem(table) == (None, "the file is larger than 20 MiB: split it into smaller files")
    assert stream.read_total == MAX_FILE_BYTES + 1


def test_big_bytes_are_refused_before_parsing():
    assert only_problem(read_table(b"a" * (MAX_FILE_BYTES + 1), "p.csv", PAYMENTS))[1].startswith(
        "the file is larger than 20 MiB")


def test_the_row_limit(monkeypatch):
    monkeypatch.setattr(tabular, "MAX_ROWS", 3)
    ok = read_table(csv_bytes([PAY_ZH, *(pay_row(f"R{i}") for i in range(3))]), "p.csv", PAYMENTS)
    assert ok.ok and len(ok.rows) == 3
    too_many = read_table(csv_bytes([PAY_ZH, *(pay_row(f"R{i}") for i in range(4))]), "p.csv", PAYMENTS)
    assert only_problem(too_many) == (None, "the file has more than 3 data rows: split it into smaller files")


# --------------------------------------------------------------------------------------------
# XLSX: Excel's cell types become the text the parsers expect


def test_xlsx_cells_numbers_dates_and_an_id_typed_as_a_number():
    def setup(wb, ws):
        ws["G3"].number_format = "@"

    rows = [
        PAY_ZH,
        [*pay_row("R1")[:7], 1234.5, dt.datetime(2026, 3, 2), "产业补助", dt.datetime(2026, 3, 1)],
        # an ID typed into a General cell: Excel shows 6.53226E+17 and keeps 15 digits
        [*pay_row("R2")[:4], 6.53226198001011e17, "阿依古丽", CARD, 200, dt.date(2026, 3, 2), "wage", "2026-03"],
    ]
    table = read_table(xlsx_bytes(rows, setup), "发放清册.xlsx", PAYMENTS)
    assert table.format == "xlsx"
    assert table.rows[0].values["amount"] == "1234.5"
    assert table.rows[0].values["paid_on"] == "2026-03-02"
    assert table.rows[0].values["period"] == "2026-03-01"
    assert table.rows[1].values["amount"] == "200"
    assert problems_of(table) == [
        (3, "payee_id_number", "6.53226198001011E+17",
         "the ID number was typed as a number, and Excel keeps only 15 digits of a number, so the last digits are "
         "lost (Excel holds 6.53226198001011E+17): format the column as Text (文本) and type it again"),
    ]
    assert table.problems[0].where == "E3 收款人身份证号"
    v = validate_rows(table, PAYMENTS, as_of=AS_OF)
    # The lost ID is reported once (by tabular), not again as a bad checksum.
    assert [(p.row, p.field) for p in v.problems] == [(3, "payee_id_number")]
    assert [(r["row"], r["amount"], r["paid_on"], r["period"]) for r in v.records] == [
        (2, 123450, dt.date(2026, 3, 2), "2026-03")]


def test_xlsx_numbers_as_excel_writes_them_are_read_as_excel_shows_them():
    rows = [PAY_ZH, [*pay_row("R1")[:7], 7, "2026-03-02", "产业补助", "2026-03"],
            [*pay_row("R2")[:7], 8, "2026-03-02", "产业补助", "2026-03"],
            [*pay_row("R3")[:7], 9, "2026-03-02", "产业补助", "2026-03"]]
    data = xlsx_bytes(rows)
    # A formula's cached value is a double: 0.1 + 0.2, a sum that is 12.3 to Excel, a whole 5.0.
    data = patch_sheet_xml(data, '<c r="H2" t="n"><v>7</v>', '<c r="H2" t="n"><v>0.30000000000000004</v>')
    data = patch_sheet_xml(data, '<c r="H3" t="n"><v>8</v>', '<c r="H3" t="n"><v>12.299999999999999</v>')
    data = patch_sheet_xml(data, '<c r="H4" t="n"><v>9</v>', '<c r="H4" t="n"><v>5.0</v>')
    table = read_table(data, "p.xlsx", PAYMENTS)
    assert [r.values["amount"] for r in table.rows] == ["0.3", "12.3", "5"]
    assert [r["amount"] for r in validate_rows(table, PAYMENTS, as_of=AS_OF).records] == [30, 1230, 500]


def test_xlsx_merged_header_cells_are_one_clear_error_naming_the_column():
    header = [*PAY_ZH[:7], "金额", None, *PAY_ZH[8:]]

    def setup(wb, ws):
        ws.merge_cells("H1:I1")

    rows = [header, [*pay_row("R1")[:8], "", *pay_row("R1")[8:]]]
    table = read_table(xlsx_bytes(rows, setup), "p.xlsx", PAYMENTS)
    assert problems_of(table) == [
        (1, "I", "", "header cell I1 is blank (after '金额' in H1: merged header cells?): every column needs its own "
                     "header in row 1; unmerge the cells and name each column")]
    assert table.problems[0].where == "I1"


def test_xlsx_blank_trailing_rows_and_columns_and_gaps():
    def setup(wb, ws):
        ws["N40"].number_format = "0.00"  # a formatted but empty cell far away
        ws["M20"] = "   "

    rows = [[*PAY_ZH, None, None], pay_row("R1"), [], pay_row("R2")]
    table = read_table(xlsx_bytes(rows, setup), "p.xlsx", PAYMENTS)
    assert table.ok and table.warnings == ()
    assert [r.row for r in table.rows] == [2, 4]


def test_xlsx_data_under_no_header_is_ignored_with_a_warning():
    table = read_table(xlsx_bytes([PAY_ZH, [*pay_row("R1"), None, "张三说"]]), "p.xlsx", PAYMENTS)
    assert table.ok
    assert [w.message for w in table.warnings] == ["column M has values but no header and is ignored"]


def test_xlsx_error_cells_bools_and_other_sheets():
    def setup(wb, ws):
        wb.create_sheet("说明")

    rows = [PAY_ZH, [*pay_row("R1")[:7], "#DIV/0!", *pay_row("R1")[8:]], [*pay_row("R2")[:5], True, *pay_row("R2")[6:]]]
    table = read_table(xlsx_bytes(rows, setup), "p.xlsx", PAYMENTS)
    assert problems_of(table) == [
        (2, "amount", "#DIV/0!", "the cell shows the Excel error #DIV/0!: correct the formula or type the value")]
    assert table.rows[1].values["payee_name"] == "TRUE"
    assert table.warnings[0].message == "only the first sheet, 'Sheet', is read; the workbook has 2 sheets"


def test_xlsx_an_empty_first_sheet_is_named():
    def setup(wb, ws):
        ws.title = "封面"
        data = wb.create_sheet("清册")
        data.append(PAY_ZH)

    table = read_table(xlsx_bytes([], setup), "p.xlsx", PAYMENTS)
    assert only_problem(table) == (None, "the first sheet, '封面', is empty: expected a header row and data rows")


def test_xlsx_a_rate_formatted_as_a_percentage_reads_as_the_officer_sees_it():
    loans = TEMPLATES["loans"]
    header = [c.zh for c in loans.columns]
    row = ["L1", "农商银行", "H001", ID1, "阿依古丽", 50000, 0.0435, 36, dt.date(2026, 3, 2), "等额本息", "养殖"]

    def setup(wb, ws):
        ws["G2"].number_format = "0.00%"
        ws["G3"].number_format = "0.00%"

    rows = [header, row, ["L2", *row[1:6], 0.0385, *row[7:]], ["L3", *row[1:6], 4.35, *row[7:]]]
    table = read_table(xlsx_bytes(rows, setup), "loans.xlsx", loans)
    assert [r.values["annual_rate"] for r in table.rows] == ["4.35%", "3.85%", "4.35"]
    v = validate_rows(table, loans, as_of=AS_OF)
    assert v.ok, v.problems
    assert [r["annual_rate"] for r in v.records] == [Decimal("4.35"), Decimal("3.85"), Decimal("4.35")]
    assert v.records[0]["principal"] == 5_000_000
    assert v.records[0]["method"] == "annuity"


# --------------------------------------------------------------------------------------------
# Cell parsers


@pytest.mark.parametrize(
    ("text", "fen"),
    [("1,234.5", 123450), ("¥200", 20000), ("￥200", 20000), ("200元", 20000), ("  12.30 ", 1230), ("12.3", 1230),
     ("１２３．４５", 12345), ("1,234,567.89", 123456789), ("RMB 200", 20000), ("¥ 1,000.00 元", 100000),
     ("12.300", 1230), ("0", 0), ("0.05", 5), (".5", 50), ("007", 700), ("9999999999999.99", 999999999999999)],
)
def test_amounts_as_officers_type_them(text, fen):
    assert parse_amount_cell(text) == (fen, None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("12.345", "the amount has more than two decimals: yuan have fen, nothing smaller, and the ledger never "
                   "rounds an amount for you; correct it in the sheet (for a formula, =ROUND(…, 2))"),
        ("12.3451", "the amount has more than two decimals: yuan have fen, nothing smaller, and the ledger never "
                    "rounds an amount for you; correct it in the sheet (for a formula, =ROUND(…, 2))"),
        ("-200", "the amount cannot be negative here"),
        ("¥-200", "the amount cannot be negative here"),
        ("", "the amount is missing"),
        ("1,2345", "commas may only separate thousands, as in 1,234.50"),
        ("12,34.5", "commas may only separate thousands, as in 1,234.50"),
        ("1.5万", "write the amount in yuan, such as 15000 rather than 1.5万"),
        ("12元5角", "write the amount in yuan with decimals, such as 12.50 rather than 12元5角"),
        ("1.2E+3", "the amount is in exponent form (as Excel shortens long numbers): write it in full"),
        ("二百元", "not an amount: write yuan with at most two decimals, such as 1234.50"),
        ("12 000", "not an amount: write yuan with at most two decimals, such as 1234.50"),
        ("1.234,50", "not an amount: write yuan with at most two decimals, such as 1234.50"),
        ("10000000000000.01", "the amount is out of range"),
    ],
)
def test_amounts_refused_never_rounded(text, message):
    assert parse_amount_cell(text) == (None, message)


@given(st.integers(0, 10**14), st.booleans(), st.sampled_from(["", "¥", "￥", "RMB "]), st.sampled_from(["", "元"]),
       st.booleans(), st.booleans())
def test_amount_round_trip_through_what_officers_type(fen, grouped, prefix, suffix, full_width, padded):
    whole, cents = divmod(fen, 100)
    text = f"{prefix}{whole:,}" if grouped else f"{prefix}{whole}"
    text += f".{cents:02d}" if cents % 10 else (f".{cents // 10}" if cents else "")
    text += suffix
    if full_width:
        text = text.translate(str.maketrans("0123456789.,", "０１２３４５６７８９．，"))
    if padded:
        text = f" \u3000{text} "
    assert parse_amount_cell(text.strip()) == (fen, None)


@given(st.dates(dt.date(1900, 1, 1), dt.date(2099, 12, 31)),
       st.sampled_from(["{d:%Y-%m-%d}", "{d.year}/{d.month}/{d.day}", "{d.year}.{d.month}.{d.day}",
                        "{d.year}年{d.month}月{d.day}日", "{d:%Y%m%d}", "{d:%Y-%m-%d} 00:00:00"]))
def test_date_round_trip_through_what_officers_type(day, form):
    assert parse_date_cell(form.format(d=day)) == (day, None)
    assert parse_month_cell(f"{day.year}年{day.month}月") == (f"{day:%Y-%m}", None)


def test_negative_amounts_when_allowed():
    assert parse_amount_cell("-1,234.50", allow_negative=True) == (-123450, None)
    assert parse_amount_cell("−5", allow_negative=True) == (-500, None)
    assert parse_amount_cell("-0", allow_negative=False) == (0, None)


@pytest.mark.parametrize(
    "text", ["2026-03-02", "2026-3-2", "2026/3/2", "2026/03/02", "2026.3.2", "2026年3月2日", "2026年03月02号",
             "20260302", "２０２６－０３－０２", "2026-03-02 00:00:00", "2026-03-02 14:30", " 2026-03-02 "],
)
def test_dates_as_officers_type_them(text):
    assert parse_date_cell(text.strip()) == (dt.date(2026, 3, 2), None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-02-30", "2026-02-30 is not a real date: February 2026 has 28 days"),
        ("2026-13-01", "there is no month 13: write dates as YYYY-MM-DD, such as 2026-03-02"),
        ("26-3-2", "the year must have four digits (2026, not 26): write dates as YYYY-MM-DD, such as 2026-03-02"),
        ("26/03/02", "the year must have four digits (2026, not 26): write dates as YYYY-MM-DD, such as 2026-03-02"),
        ("3/2/2026", "3/2/2026 puts the year last, so it could be day-month or month-day: write dates as YYYY-MM-DD, "
                     "such as 2026-03-02"),
        ("46083", "46083 looks like an Excel date serial number (the cell lost its date format): format the column "
                  "as a date or write dates as YYYY-MM-DD, such as 2026-03-02"),
        ("2026-3/2", "not a date: write dates as YYYY-MM-DD, such as 2026-03-02"),
        ("昨天", "not a date: write dates as YYYY-MM-DD, such as 2026-03-02"),
        ("1899-12-31", "the date 1899-12-31 is outside 1900–2099"),
        ("", "the date is missing"),
    ],
)
def test_dates_refused(text, message):
    assert parse_date_cell(text) == (None, message)


@pytest.mark.parametrize(
    ("text", "month"),
    [("2026-03", "2026-03"), ("2026-3", "2026-03"), ("2026/3", "2026-03"), ("2026.3", "2026-03"),
     ("2026.10", "2026-10"), ("2026.01", "2026-01"), ("2026年3月", "2026-03"), ("2026年03月份", "2026-03"),
     ("202603", "2026-03"), ("2026-03-01", "2026-03"), ("2026/3/1", "2026-03")],
)
def test_months(text, month):
    assert parse_month_cell(text) == (month, None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026.1", "2026.1 is ambiguous: Excel shows 2026.10 (October) as 2026.1 too; write the month as YYYY-MM, "
                   "such as 2026-03 (2026-01 or 2026-10)"),
        ("2026-03-15", "a month is expected, not a day: write the month as YYYY-MM, such as 2026-03"),
        ("2026-13", "there is no month 13: write the month as YYYY-MM, such as 2026-03"),
        ("三月", "not a month: write the month as YYYY-MM, such as 2026-03"),
        ("26-03", "not a month: write the month as YYYY-MM, such as 2026-03"),
    ],
)
def test_months_refused(text, message):
    assert parse_month_cell(text) == (None, message)


def test_ints_percent_and_enums():
    assert parse_int_cell("36") == (36, None)
    assert parse_int_cell("５") == (5, None)
    assert parse_int_cell("5.0") == (5, None)
    assert parse_int_cell("5.5") == (None, "must be a whole number")
    assert parse_int_cell("36个月") == (None, "not a whole number: write digits only, such as 36")
    assert parse_percent_cell("4.35") == (Decimal("4.35"), None)
    assert parse_percent_cell("4.35%") == (Decimal("4.35"), None)
    assert parse_percent_cell("４．３５％") == (Decimal("4.35"), None)
    assert parse_percent_cell("4.123456") == (None, "a rate has at most 4 decimals")
    method = TEMPLATES["loans"].column("method")
    assert parse_enum_cell("等额本息", method) == ("annuity", None)
    assert parse_enum_cell("EQUAL_PRINCIPAL", method) == ("equal-principal", None)
    assert parse_enum_cell("按季付息、到期还本", method) == ("interest-only", None)
    assert parse_enum_cell("按月", method) == (None, "not one of: 等额本息 (annuity), 等额本金 (equal-principal), "
                                                   "按季付息到期还本 (interest-only)")
    relation = PERSONS.column("relation")
    assert parse_enum_cell("长子", relation) == ("child", None)
    assert parse_enum_cell(" Spouse ", relation) == ("spouse", None)


# --------------------------------------------------------------------------------------------
# Whole tables: every problem at once, with the officer's row numbers


def test_every_amount_and_date_form_in_one_file():
    rows = [PAY_ZH, pay_row("R1", "1,234.5", "2026-03-02"), pay_row("R2", "¥200", "2026/3/2"),
            pay_row("R3", "￥200", "2026.3.2"), pay_row("R4", "200元", "2026年3月2日"),
            pay_row("R5", "  12.30 ", " 2026-3-2 "), pay_row("R6", "１２３．４５", "20260302", purpose="wage")]
    v = validate_rows(read_table(csv_bytes(rows, "utf-8-sig"), "p.csv", PAYMENTS), PAYMENTS, as_of=AS_OF)
    assert v.ok, v.problems
    assert [r["amount"] for r in v.records] == [123450, 20000, 20000, 20000, 1230, 12345]
    assert {r["paid_on"] for r in v.records} == {dt.date(2026, 3, 2)}
    assert v.records[0] == {"row": 2, "ref": "R1", "batch_no": "B2026-03", "project_code": "P-ROSE-01",
                            "household_no": "H001", "payee_id_number": ID1, "payee_name": "阿依古丽",
                            "bank_account": CARD, "amount": 123450, "paid_on": dt.date(2026, 3, 2),
                            "purpose": "subsidy", "period": "2026-03", "item": None, "quantity": None,
                            "unit_price": None}
    assert v.records[-1]["purpose"] == "wage"


def test_bad_cells_are_all_reported_with_row_column_value_and_message():
    bad_id = ID2[:-1] + ("0" if ID2[-1] != "0" else "1")
    rows = [
        PAY_ZH,
        pay_row("R1"),
        pay_row("R2", amount="12.345"),
        pay_row("R3", paid_on="2026-02-30", id_number=bad_id),
        pay_row("R1", amount="", purpose="工资", period="2026.1"),
        pay_row("R5", amount="-5", paid_on="26/3/2"),
    ]
    v = validate_rows(read_table(csv_bytes(rows), "p.csv", PAYMENTS), PAYMENTS, as_of=AS_OF)
    assert [(p.row, p.where, p.field, p.value, p.message) for p in v.problems] == [
        (3, "H3 金额", "amount", "12.345", "the amount has more than two decimals: yuan have fen, nothing smaller, and "
         "the ledger never rounds an amount for you; correct it in the sheet (for a formula, =ROUND(…, 2))"),
        (4, "E4 收款人身份证号", "payee_id_number", bad_id, "the check character (the last one) does not match the "
         "other 17 digits: a digit is mistyped or two are swapped; compare with the ID card"),
        (4, "I4 发放日期", "paid_on", "2026-02-30", "2026-02-30 is not a real date: February 2026 has 28 days"),
        (5, "H5 金额", "amount", "", "金额 (amount) is required but the cell is blank"),
        (5, "J5 用途", "purpose", "工资", "not one of: 产业补助 (subsidy), 公益岗位工资 (wage), 实物 (in_kind)"),
        (5, "K5 所属期", "period", "2026.1", "2026.1 is ambiguous: Excel shows 2026.10 (October) as 2026.1 too; write "
         "the month as YYYY-MM, such as 2026-03 (2026-01 or 2026-10)"),
        (5, "A5 业务流水号", "ref", "R1", "the same 业务流水号 (ref) as row 2: each may appear only once in a file"),
        (6, "H6 金额", "amount", "-5", "the amount cannot be negative here"),
        (6, "I6 发放日期", "paid_on", "26/3/2", "the year must have four digits (2026, not 26): write dates as "
         "YYYY-MM-DD, such as 2026-03-02"),
    ]
    assert [r["row"] for r in v.records] == [2]
    assert v.problems[0].as_dict() == {"row": 3, "column": "amount", "value": "12.345", "where": "H3 金额",
                                       "message": v.problems[0].message}


def test_duplicate_ids_in_persons_even_when_typed_differently():
    x_id = with_check("65322619900101001")
    while not x_id.endswith("X"):  # find an ID whose check character is X, to type it as x
        x_id = with_check(str(int(x_id[:17]) + 10))
    rows = [["户编号", "姓名", "身份证号", "与户主关系"], ["H001", "阿依古丽", ID1, "户主"],
            ["H001", "买买提", x_id, "配偶"], ["H002", "艾力", ID1, "户主"], ["H002", "古丽", x_id.lower(), "子女"]]
    v = validate_rows(read_table(csv_bytes(rows), "persons.csv", PERSONS), PERSONS, as_of=AS_OF)
    assert [(p.row, p.field, p.value, p.message) for p in v.problems] == [
        (4, "id_number", ID1, "the same 身份证号 (id_number) as row 2: each may appear only once in a file"),
        (5, "id_number", x_id.lower(), "the same 身份证号 (id_number) as row 3: each may appear only once in a file"),
    ]


def test_duplicate_household_numbers_and_head_ids_and_luhn_warnings():
    header = [c.zh for c in HOUSEHOLDS.columns]
    passbook = "110000000001"
    rows = [header, ["H001", "木尕拉镇", "托格日尕孜村", "阿依古丽", ID1, "4", "脱贫户", CARD, "13900000000"],
            ["H002", "木尕拉镇", "托格日尕孜村", "买买提", ID2, "3", "monitored", passbook, ""],
            ["H001", "木尕拉镇", "托格日尕孜村", "艾力", ID1, "5", "一般农户", "6217 0000 1234 5671", ""]]
    v = validate_rows(read_table(csv_bytes(rows), "h.csv", HOUSEHOLDS), HOUSEHOLDS, as_of=AS_OF)
    assert [(p.row, p.field, p.message) for p in v.problems] == [
        (4, "household_no", "the same 户编号 (household_no) as row 2: each may appear only once in a file"),
        (4, "head_id_number", "the same 户主身份证号 (head_id_number) as row 2: each may appear only once in a file"),
    ]
    assert [(r["row"], r["status"], r["bank_account"], r["phone"]) for r in v.records] == [
        (2, "exited", CARD, "13900000000"), (3, "monitored", passbook, None)]
    # A passbook account, and a mistyped card in a row refused anyway: only warnings.
    assert [(w.row, w.field) for w in v.warnings] == [(3, "bank_account"), (4, "bank_account")]


def test_allocations_the_whole_row_is_the_key_and_fund_codes_are_checked():
    spec = TEMPLATES["allocations"]
    rows = [["项目编号", "资金编码", "金额", "安排日期"], ["P1", "CENTRAL-2026", "1,000,000", "2026-03-02"],
            ["P1", "CENTRAL-2026", "1000000.00", "2026/3/2"], ["P1", "central 2026", "5", "2026-03-02"]]
    v = validate_rows(read_table(csv_bytes(rows), "a.csv", spec), spec, as_of=AS_OF)
    assert [(p.row, p.field, p.message) for p in v.problems] == [
        (3, "project_code", "the same 项目编号 (project_code) + 资金编码 (fund_code) + 金额 (amount) + 安排日期 "
                            "(allocated_on) as row 2: each may appear only once in a file"),
        (4, "fund_code", "contains a space: a number or code has none"),
    ]


def test_projects_dates_in_order_and_optional_columns_absent():
    spec = TEMPLATES["projects"]
    header = ["项目编号", "项目名称", "产业", "预算", "开始日期", "结束日期"]
    rows = [header, ["P1", "玫瑰花种植", "玫瑰花", "500000", "2026-03-01", "2026-12-31"],
            ["P2", "多胎肉羊养殖", "sheep", "300000", "2026-12-31", "2026-03-01"]]
    v = validate_rows(read_table(csv_bytes(rows), "p.csv", spec), spec, as_of=AS_OF)
    assert [(p.row, p.where, p.message) for p in v.problems] == [
        (3, "F3 结束日期", "结束日期 (end_on) 2026-03-01 is before 开始日期 (start_on) 2026-12-31")]
    assert v.records[0]["township"] is None and v.records[0]["standard"] is None
    assert v.records[0]["industry"] == "rose"


def test_low_rates_are_a_warning():
    loans = TEMPLATES["loans"]
    header = [c.key for c in loans.columns]
    row = ["L1", "农商银行", "H001", ID1, "阿依古丽", "50000", "0.0435", "36", "2026-03-02", "annuity", "养殖"]
    v = validate_rows(read_table(csv_bytes([header, row]), "l.csv", loans), loans, as_of=AS_OF)
    assert v.ok
    assert [w.message for w in v.warnings] == ["a rate of 0.0435 % a year is very low: if 4.35 % is meant, write 4.35"]


def test_problems_are_capped_with_a_count_of_the_rest(monkeypatch):
    monkeypatch.setattr(tabular, "MAX_PROBLEMS", 5)
    rows = [PAY_ZH, *(pay_row(f"R{i}", amount="1.234") for i in range(8))]
    v = validate_rows(read_table(csv_bytes(rows), "p.csv", PAYMENTS), PAYMENTS, as_of=AS_OF)
    assert len(v.problems) == 6
    assert v.problems[-1].message == "… and 3 more problems not listed"


def test_a_refused_table_validates_to_its_own_problems():
    table = read_table(b"", "p.csv", PAYMENTS)
    v = validate_rows(table, PAYMENTS, as_of=AS_OF)
    assert v.problems == table.problems and v.records == ()


# --------------------------------------------------------------------------------------------
# The error sheet


def _sheet_rows(data: bytes, index: int = 0) -> list[tuple]:
    wb = load_workbook(io.BytesIO(data))
    return [tuple(r) for r in wb.worksheets[index].iter_rows(values_only=True)]


def test_error_sheet_of_a_csv_keeps_row_numbers_and_escapes_formulas():
    rows = [[*PAY_ZH, "备注"], pay_row("R1"), pay_row("R2", amount="12.345"), [],
            [*pay_row("R4", paid_on="2026-02-30"), "=HYPERLINK(\"http://x\")"]]
    data = csv_bytes(rows)
    table = read_table(data, "p.csv", PAYMENTS)
    v = validate_rows(table, PAYMENTS, as_of=AS_OF)
    out = _sheet_rows(error_sheet(data, "p.csv", v.problems, v.warnings))
    assert out[0][:3] == (ERROR_COLUMN, "业务流水号", "批次号")
    assert out[1][0] is None and out[1][1] == "R1"
    assert out[2][0].startswith("H3 金额 '12.345': the amount has more than two decimals")
    assert out[3][0] is None and out[3][1] is None  # the blank row 4 is still row 4
    assert out[4][0] == "I5 发放日期 '2026-02-30': 2026-02-30 is not a real date: February 2026 has 28 days"
    assert out[4][1] == "R4"
    assert out[4][-1] == "'=HYPERLINK(\"http://x\")"  # escaped, so Excel shows it and never runs it
    assert out[-1][:2] == ("文件 / file", "warning: L1 '备注': column L '备注' is not part of the payments template "
                                          "and is ignored")
    listing = _sheet_rows(error_sheet(data, "p.csv", v.problems, v.warnings), 1)
    assert listing[0] == ("行 row", "列 column", "位置 where", "值 value", "问题 message", "级别 severity")
    assert listing[1][:4] == (3, "amount", "H3 金额", "12.345") and listing[1][5] == "error"


def test_error_sheet_of_an_xlsx_keeps_numbers_and_dates():
    rows = [PAY_ZH, [*pay_row("R1")[:7], 12.345, dt.datetime(2026, 3, 2), "产业补助", "2026-03"]]
    data = xlsx_bytes(rows)
    v = validate_rows(read_table(data, "p.xlsx", PAYMENTS), PAYMENTS, as_of=AS_OF)
    out = _sheet_rows(error_sheet(data, "p.xlsx", v.problems))
    assert out[1][8] == 12.345 and out[1][9] == dt.datetime(2026, 3, 2)
    assert out[1][0].startswith("H2 金额 '12.345': the amount has more than two decimals")


def test_error_sheet_of_an_unreadable_file_has_the_note_only():
    data = b"%PDF-1.7 ..."
    table = read_table(data, "清册.pdf", PAYMENTS)
    out = _sheet_rows(error_sheet(data, "清册.pdf", table.problems))
    assert out[0] == (ERROR_COLUMN, None)
    assert out[-1] == ("文件 / file", "file '清册.pdf': this is a PDF document, not a spreadsheet: import the Excel "
                                      "(.xlsx) or CSV file it was made from")


def test_error_sheet_messages_starting_like_formulas_are_escaped_too():
    from ledger.entries import Problem

    data = csv_bytes([PAY_EN, pay_row("=1+1")])
    out = _sheet_rows(error_sheet(data, "p.csv", [Problem("=cmd", "ref", "=1+1", "x", row=2)]))
    assert out[1][0] == "'=cmd '=1+1': x"
    assert out[1][1] == "'=1+1"
    assert not any(re.match(r"^[=+@]", str(c)) for r in out for c in r if c is not None)
