"""Officers' spreadsheets in: a CSV or XLSX file -> its header mapped to a template -> rows of text.

Owns what is common to every template of DESIGN.md §8: the ten templates themselves (columns,
English keys, Chinese names, enum values), recognising the file (XLSX by content, CSV in UTF-8 or
GBK), the limits, turning Excel's cell types into the text the cell parsers expect, matching
headers, and the downloadable copy of the sheet with an error column. It does not judge cell
values (ledger/imports/cells.py does) and never touches the database.

Every problem comes back as a `Problem` value; its `row` is the row number the officer sees in
the spreadsheet (the header is row 1; None for the file as a whole). A file that cannot be taken
whole (too big, not a spreadsheet, undecodable, header wrong) gives its problems and no rows.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import difflib
import io
import math
import os
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import BinaryIO

from ledger.entries import Problem, fund_code_problem
from ledger.exports import escape_formula

MAX_FILE_BYTES = 20 << 20  # 20 MiB: a 200,000-row payment roll is about 15 MiB of CSV
MAX_ROWS = 200_000  # data rows, not counting the header or blank rows
MAX_COLUMNS = 256
MAX_CELL_CHARS = 2_000  # what a cell may hold before we stop reading it as a value
MAX_TEXT_CHARS = 200  # names, positions, implementers: anything longer is a pasted paragraph
MAX_CODE_CHARS = 64  # household_no, ref, project_code …
MAX_PHONE_CHARS = 40
MAX_VALUE_CHARS = 100  # how much of a bad value a Problem repeats
MAX_PROBLEMS = 10_000  # listed; more are counted in one closing problem
# An XLSX is a zip: 20 MiB of it may inflate to gigabytes (a "zip bomb"). 200,000 rows of a dozen
# columns inflate to a few hundred MiB of XML at most.
MAX_UNZIPPED_BYTES = 512 << 20
EXCEL_DIGITS = 15  # Excel keeps 15 significant digits of a number; the rest become zeros
EXCEL_MAX_CELL_CHARS = 32_767
SNIFF_BYTES = 64 << 10  # how much of a file is looked at to tell what it is

# Column kinds; ledger/imports/cells.py has one parser per kind.
TEXT = "text"
CODE = "code"  # an identifier: no spaces inside, at most MAX_CODE_CHARS
AMOUNT = "amount"  # yuan with at most two decimals -> integer fen
DATE = "date"
MONTH = "month"  # YYYY-MM
INT = "int"
PERCENT = "percent"  # a rate in percent, e.g. 4.35 -> Decimal("4.35")
ENUM = "enum"
ID_NUMBER = "id_number"
BANK_ACCOUNT = "bank_account"
KINDS = frozenset({TEXT, CODE, AMOUNT, DATE, MONTH, INT, PERCENT, ENUM, ID_NUMBER, BANK_ACCOUNT})


# --------------------------------------------------------------------------------------------
# Templates


@dataclass(frozen=True, slots=True)
class Choice:
    """One value of an enum column: the English key stored, the Chinese label officers type."""

    key: str
    zh: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    key: str  # the English header and the record key
    zh: str  # the Chinese header
    kind: str = TEXT
    # required: the column must be in the file and no cell may be blank. Otherwise the column may
    # be left out and its cells blank (the record then holds None).
    required: bool = True
    aliases: tuple[str, ...] = ()  # other headers officers' own sheets use for the same column
    choices: tuple[Choice, ...] = ()  # ENUM only
    # Bounds in the column's own unit: fen for AMOUNT, the number for INT and PERCENT.
    minimum: int | None = None
    maximum: int | None = None
    max_chars: int = MAX_TEXT_CHARS  # TEXT and CODE
    check: Callable[[str], str | None] | None = None  # a further check of a parsed TEXT/CODE value

    @property
    def label(self) -> str:
        return f"{self.zh} ({self.key})"


@dataclass(frozen=True, slots=True)
class TemplateSpec:
    name: str
    zh: str
    columns: tuple[ColumnSpec, ...]
    # Natural keys: no two rows of one file may share one (the first is what makes a re-import a
    # no-op). Each is a tuple of column keys.
    unique: tuple[tuple[str, ...], ...] = ()
    # (earlier, later) date columns: a row where the later one comes first is refused.
    date_order: tuple[tuple[str, str], ...] = ()

    def column(self, key: str) -> ColumnSpec:
        for c in self.columns:
            if c.key == key:
                return c
        raise KeyError(key)


HOUSEHOLD_STATUSES = (
    Choice("poor", "未脱贫户"),
    Choice("exited", "脱贫户"),
    Choice("edge", "边缘易致贫户"),
    Choice("monitored", "监测户"),
    Choice("general", "一般农户"),
)
RELATIONS = (
    Choice("head", "户主", ("本人",)),
    Choice("spouse", "配偶", ("妻", "夫", "妻子", "丈夫")),
    Choice("child", "子女", ("子", "女", "儿子", "女儿", "长子", "次子", "长女", "次女")),
    Choice("parent", "父母", ("父", "母", "父亲", "母亲")),
    Choice("other", "其他"),
)
REFERENCE_KINDS = (
    Choice("death", "死亡"),
    Choice("public_employee", "财政供养", ("财政供养人员",)),
    Choice("vehicle", "车辆"),
    Choice("business", "工商", ("工商注册",)),
)
FUND_KINDS = (
    Choice("central", "中央", ("中央财政",)),
    Choice("region", "自治区", ("自治区财政",)),
    Choice("prefecture", "地区", ("地区财政",)),
    Choice("county", "县级", ("县本级", "县财政")),
    Choice("partner_aid", "东西部协作", ("对口援疆",)),
    Choice("social", "社会帮扶"),
)
INDUSTRIES = (  # DESIGN.md §5
    Choice("rose", "玫瑰花", ("玫瑰",)),
    Choice("grape", "葡萄"),
    Choice("vegetable", "设施蔬菜"),
    Choice("marigold", "万寿菊"),
    Choice("fungus", "食用菌"),
    Choice("sheep", "多胎肉羊"),
    Choice("goose", "鹅"),
    Choice("pigeon", "肉鸽"),
    Choice("rabbit", "兔"),
    Choice("hotan_sheep", "和田羊"),
    Choice("welfare_post", "公益岗位", ("公益性岗位",)),
    Choice("interest_subsidy", "贴息"),
    Choice("infrastructure", "基础设施"),
    Choice("other", "其他"),
)
PAYMENT_PURPOSES = (
    Choice("subsidy", "产业补助"),
    Choice("wage", "公益岗位工资", ("公益性岗位工资",)),
    Choice("in_kind", "实物", ("实物补助",)),
)
RETURN_RESULTS = (
    Choice("paid", "成功", ("已支付", "支付成功")),
    Choice("failed", "失败", ("退票", "支付失败")),
)
POST_TYPES = (  # public-welfare posts (ledger.welfare)
    Choice("general", "一般公益岗", ("一般公益性岗位", "公益岗", "人社公益岗")),
    Choice("forest", "护林员", ("生态护林员",)),
    Choice("grassland", "草管员", ("草原管护员",)),
    Choice("road", "护路员", ("乡村护路员",)),
    Choice("pv", "光伏管护员", ("光伏电站管护员", "光伏电站管理员")),
)
LOAN_METHODS = (
    Choice("annuity", "等额本息"),
    Choice("equal-principal", "等额本金"),
    Choice("interest-only", "按季付息到期还本"),
)

_ID_ALIASES = ("身份证号码", "公民身份号码", "证件号码")
_HOUSEHOLD_NO = ColumnSpec("household_no", "户编号", CODE, aliases=("户号",))
_TOWNSHIP = ColumnSpec("township", "乡镇", aliases=("乡(镇)",))
_VILLAGE = ColumnSpec("village", "行政村", aliases=("村",))
_PROJECT_CODE = ColumnSpec("project_code", "项目编号", CODE, aliases=("项目编码",))
_FUND_CODE = ColumnSpec("fund_code", "资金编码", CODE, check=fund_code_problem)
_POSITIVE_FEN = 1

TEMPLATES: dict[str, TemplateSpec] = {
    t.name: t
    for t in (
        TemplateSpec(
            "households", "农户",
            (
                _HOUSEHOLD_NO,
                _TOWNSHIP,
                _VILLAGE,
                ColumnSpec("head_name", "户主姓名"),
                ColumnSpec("head_id_number", "户主身份证号", ID_NUMBER, aliases=("户主身份证号码",)),
                ColumnSpec("size", "家庭人口数", INT, aliases=("家庭人口", "人口数"), minimum=1, maximum=99),
                ColumnSpec("status", "户类型", ENUM, choices=HOUSEHOLD_STATUSES),
                ColumnSpec("bank_account", "一卡通账号", BANK_ACCOUNT, aliases=("一卡通", "银行账号", "银行卡号")),
                ColumnSpec("phone", "联系电话", required=False, aliases=("电话", "手机号", "手机号码"),
                           max_chars=MAX_PHONE_CHARS),
            ),
            unique=(("household_no",), ("head_id_number",)),
        ),
        TemplateSpec(
            "persons", "家庭成员",
            (
                _HOUSEHOLD_NO,
                ColumnSpec("name", "姓名"),
                ColumnSpec("id_number", "身份证号", ID_NUMBER, aliases=_ID_ALIASES),
                ColumnSpec("relation", "与户主关系", ENUM, choices=RELATIONS, aliases=("关系",)),
            ),
            unique=(("id_number",),),
        ),
        TemplateSpec(
            "officials", "村乡干部",
            (
                ColumnSpec("id_number", "身份证号", ID_NUMBER, aliases=_ID_ALIASES),
                ColumnSpec("name", "姓名"),
                ColumnSpec("position", "职务"),
                _TOWNSHIP,
                # Blank for a township official, who belongs to no village.
                ColumnSpec("village", "行政村", required=False, aliases=("村",)),
            ),
            unique=(("id_number",),),
        ),
        TemplateSpec(
            "reference", "比对名单",
            (
                ColumnSpec("id_number", "身份证号", ID_NUMBER, aliases=_ID_ALIASES),
                ColumnSpec("name", "姓名"),
                ColumnSpec("kind", "类别", ENUM, choices=REFERENCE_KINDS),
                ColumnSpec("date", "日期", DATE),
            ),
            # One person may be on several lists (public employee and vehicle owner), once each.
            unique=(("id_number", "kind"),),
        ),
        TemplateSpec(
            "funds", "资金",
            (
                _FUND_CODE,
                ColumnSpec("fund_name", "资金名称"),
                ColumnSpec("kind", "资金性质", ENUM, choices=FUND_KINDS),
                ColumnSpec("document_no", "指标文号", aliases=("文号",)),
                ColumnSpec("amount", "金额", AMOUNT, minimum=_POSITIVE_FEN),
                ColumnSpec("received_on", "到位日期", DATE),
            ),
            unique=(("fund_code",),),
        ),
        TemplateSpec(
            "projects", "项目",
            (
                _PROJECT_CODE,
                ColumnSpec("name", "项目名称"),
                ColumnSpec("industry", "产业", ENUM, choices=INDUSTRIES, aliases=("产业类型",)),
                ColumnSpec("township", "乡镇", required=False, aliases=("乡(镇)",)),  # blank: county-wide
                ColumnSpec("implementer", "实施主体", required=False, aliases=("实施单位",)),
                ColumnSpec("budget", "预算", AMOUNT, aliases=("预算金额",), minimum=_POSITIVE_FEN),
                ColumnSpec("standard", "补助标准", AMOUNT, required=False, minimum=_POSITIVE_FEN),
                ColumnSpec("start_on", "开始日期", DATE),
                ColumnSpec("end_on", "结束日期", DATE),
            ),
            unique=(("project_code",),),
            date_order=(("start_on", "end_on"),),
        ),
        TemplateSpec(
            "allocations", "资金安排",
            (
                _PROJECT_CODE,
                _FUND_CODE,
                ColumnSpec("amount", "金额", AMOUNT, minimum=_POSITIVE_FEN),
                ColumnSpec("allocated_on", "安排日期", DATE),
            ),
            # An allocation has no reference number, so the whole row is its key: two identical rows
            # are one allocation typed twice (or two that belong together in one row).
            unique=(("project_code", "fund_code", "amount", "allocated_on"),),
        ),
        TemplateSpec(
            "payments", "发放清册",
            (
                ColumnSpec("ref", "业务流水号", CODE, aliases=("流水号",)),
                ColumnSpec("batch_no", "批次号", CODE),
                _PROJECT_CODE,
                _HOUSEHOLD_NO,
                ColumnSpec("payee_id_number", "收款人身份证号", ID_NUMBER, aliases=("收款人身份证号码",)),
                ColumnSpec("payee_name", "收款人姓名"),
                # Blank only for goods delivered in kind (the payments check the rest).
                ColumnSpec("bank_account", "账号", BANK_ACCOUNT, required=False,
                           aliases=("银行账号", "一卡通账号", "卡号")),
                ColumnSpec("amount", "金额", AMOUNT, aliases=("发放金额",), minimum=_POSITIVE_FEN),
                ColumnSpec("paid_on", "发放日期", DATE),
                ColumnSpec("purpose", "用途", ENUM, choices=PAYMENT_PURPOSES),
                ColumnSpec("period", "所属期", MONTH, aliases=("所属月份",)),
                # In kind (实物): what was delivered, how many, at what price; quantity × price = amount.
                ColumnSpec("item", "物品", required=False, aliases=("物品名称", "品名")),
                ColumnSpec("quantity", "数量", INT, required=False, minimum=1, maximum=1_000_000),
                ColumnSpec("unit_price", "单价", AMOUNT, required=False, minimum=_POSITIVE_FEN),
            ),
            unique=(("ref",),),
        ),
        # Not a §8 template of the county's own: the bank's return file for a payment roll (回盘文件).
        TemplateSpec(
            "bank_returns", "银行回盘",
            (
                ColumnSpec("ref", "业务流水号", CODE, aliases=("流水号",)),
                ColumnSpec("result", "结果", ENUM, choices=RETURN_RESULTS, aliases=("处理结果", "状态")),
                ColumnSpec("returned_on", "日期", DATE, aliases=("回盘日期", "处理日期")),
                ColumnSpec("note", "原因", required=False, aliases=("失败原因", "备注")),
            ),
            unique=(("ref",),),
        ),
        TemplateSpec(
            "loans", "贷款",
            (
                ColumnSpec("loan_no", "贷款编号", CODE, aliases=("借据号",)),
                ColumnSpec("bank", "贷款银行"),
                _HOUSEHOLD_NO,
                ColumnSpec("borrower_id_number", "借款人身份证号", ID_NUMBER, aliases=("借款人身份证号码",)),
                ColumnSpec("borrower_name", "借款人姓名"),
                # Policy limits (≤ 50,000 yuan, ≤ 36 months, …) are rule R10's to flag, not the
                # import's to refuse; the bounds here only catch what cannot be a loan at all.
                ColumnSpec("principal", "贷款金额", AMOUNT, minimum=_POSITIVE_FEN),
                # No lawful bank loan rate is above 24 % a year: 43.5 is 4.35 mistyped.
                ColumnSpec("annual_rate", "年利率(%)", PERCENT, aliases=("年利率",), minimum=0, maximum=24),
                ColumnSpec("term_months", "期限(月)", INT, aliases=("期限", "贷款期限(月)"), minimum=1, maximum=360),
                ColumnSpec("start_on", "放款日期", DATE),
                ColumnSpec("method", "还款方式", ENUM, choices=LOAN_METHODS),
                ColumnSpec("purpose", "用途"),
            ),
            unique=(("loan_no",),),
        ),
        TemplateSpec(
            "repayments", "还款",
            (
                ColumnSpec("ref", "业务流水号", CODE, aliases=("流水号",)),
                ColumnSpec("loan_no", "贷款编号", CODE, aliases=("借据号",)),
                ColumnSpec("paid_on", "还款日期", DATE),
                ColumnSpec("amount", "还款金额", AMOUNT, minimum=_POSITIVE_FEN),
            ),
            unique=(("ref",),),
        ),
        # Not a §8 template of the county's own: the roster of public-welfare posts (公益性岗位花名册).
        TemplateSpec(
            "posts", "公益岗位",
            (
                ColumnSpec("post_no", "岗位编号", CODE, max_chars=32),
                ColumnSpec("post_type", "岗位类型", ENUM, choices=POST_TYPES),
                _PROJECT_CODE,
                _HOUSEHOLD_NO,
                ColumnSpec("holder_id_number", "身份证号", ID_NUMBER, aliases=_ID_ALIASES),
                ColumnSpec("holder_name", "姓名", aliases=("岗位人员姓名",)),
                ColumnSpec("monthly_wage", "月工资", AMOUNT, aliases=("月工资标准", "工资标准"), minimum=_POSITIVE_FEN),
                ColumnSpec("start_on", "上岗日期", DATE),
                ColumnSpec("end_on", "离岗日期", DATE, required=False),  # blank: still in post
            ),
            unique=(("post_no",),),
            date_order=(("start_on", "end_on"),),
        ),
    )
}


_HEADER_NOTE = re.compile(r"\((?:必填|选填|可选|可空|required|optional)\)\Z", re.IGNORECASE)


def header_name_key(text: str) -> str:
    """How headers are compared: full-width forms folded (（%）-> (%)), every space removed
    (officers space out Chinese headers: 户 主 姓 名), a required-column asterisk or a trailing
    (必填)/(选填) note dropped, English case ignored."""
    key = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).strip("*")
    return _HEADER_NOTE.sub("", key).strip("*").casefold()


def choice_name_key(text: str) -> str:
    """How enum values are compared: like headers, and punctuation ignored too, so that
    按季付息、到期还本 and equal_principal match 按季付息到期还本 and equal-principal."""
    return re.sub(r"[\s、，,;；。.·_\-]+", "", unicodedata.normalize("NFKC", text)).casefold()


@lru_cache(maxsize=64)  # the ten templates, and a few a test may make
def header_lookup(spec: TemplateSpec) -> dict[str, str]:
    """Normalised header -> column key, for every key, Chinese name and alias of a template."""
    out: dict[str, str] = {}
    for col in spec.columns:
        for name in (col.key, col.zh, *col.aliases):
            k = header_name_key(name)
            if out.setdefault(k, col.key) != col.key:
                raise ValueError(f"{spec.name}: header {name!r} names both {out[k]} and {col.key}")
    return out


@lru_cache(maxsize=256)
def choice_lookup(column: ColumnSpec) -> dict[str, str]:
    """Normalised key, Chinese label or alias -> the choice's key."""
    out: dict[str, str] = {}
    for ch in column.choices:
        for name in (ch.key, ch.zh, *ch.aliases):
            k = choice_name_key(name)
            if out.setdefault(k, ch.key) != ch.key:
                raise ValueError(f"{column.key}: {name!r} names both {out[k]} and {ch.key}")
    return out


# --------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True, slots=True)
class ColumnAt:
    """Where a template column sits in this file."""

    key: str
    index: int  # 0-based
    letter: str  # "C", as Excel shows it
    header: str  # the header as the officer typed it


@dataclass(frozen=True, slots=True)
class RowValues:
    row: int  # the row number the officer sees (the header is row 1)
    values: dict[str, str]  # column key -> cell text, trimmed; "" for a blank cell; mapped columns only


@dataclass(frozen=True, slots=True)
class TableResult:
    template: str
    format: str  # "csv", "xlsx", or "" when the file could not be read
    encoding: str | None  # for CSV: "utf-8", "utf-8-sig", "gb18030" or "utf-16"
    columns: tuple[ColumnAt, ...]  # the template columns found, in file order
    rows: tuple[RowValues, ...]  # the non-blank data rows
    problems: tuple[Problem, ...]  # errors: any one of them means nothing may be imported
    warnings: tuple[Problem, ...] = ()  # worth telling the officer, never a reason to refuse

    @property
    def ok(self) -> bool:
        return not self.problems

    def column_at(self, key: str) -> ColumnAt | None:
        for c in self.columns:
            if c.key == key:
                return c
        return None


class ProblemList:
    """Collects problems up to MAX_PROBLEMS; the rest are counted in one closing problem, so a file
    with an error in each of 200,000 rows still gives a list a screen (and memory) can hold."""

    __slots__ = ("items", "more")

    def __init__(self, initial: Iterable[Problem] = ()):
        self.items: list[Problem] = []
        self.more = 0
        for p in initial:
            self.add(p)

    def add(self, p: Problem) -> None:
        if len(self.items) < MAX_PROBLEMS:
            self.items.append(p)
        else:
            self.more += 1

    def __bool__(self) -> bool:
        return bool(self.items)

    def result(self) -> tuple[Problem, ...]:
        if not self.more:
            return tuple(self.items)
        return (*self.items, Problem("file", "file", "", f"… and {self.more} more problems not listed", row=None))


def column_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    n = index + 1
    while n:
        n, r = divmod(n - 1, 26)
        letters = chr(65 + r) + letters
    return letters


def cell_problem(col: ColumnAt, row: int, value: str, message: str) -> Problem:
    """A problem with one cell: `where` is its reference and header as the officer sees them."""
    return Problem(f"{col.letter}{row} {col.header}", col.key, value[:MAX_VALUE_CHARS], message, row=row)


def _file_problem(filename: str, message: str) -> Problem:
    return Problem("file", "file", filename[:MAX_VALUE_CHARS], message, row=None)


def _refused(spec: TemplateSpec, filename: str, message: str, fmt: str = "", encoding: str | None = None,
             warnings: Sequence[Problem] = ()) -> TableResult:
    return TableResult(spec.name, fmt, encoding, (), (), (_file_problem(filename, message),), tuple(warnings))


# --------------------------------------------------------------------------------------------
# Reading


def read_table(data: bytes, filename: str, spec: TemplateSpec) -> TableResult:
    """An officer's file (its bytes and the name it came with) read against a template.

    The content decides the format, not the name: XLSX by its zip signature, otherwise text read
    as CSV. Refused with one problem: more than MAX_FILE_BYTES, an empty file, old .xls, PDF,
    images, Word files, archives, HTML saved as .xls, undecodable text. The header is row 1.
    """
    if len(data) > MAX_FILE_BYTES:
        return _refused(spec, filename, _too_big(len(data)))
    if not data.strip():
        return _refused(spec, filename, "the file is empty")
    not_ours = _not_a_spreadsheet(data)
    if not_ours:
        return _refused(spec, filename, not_ours)
    if data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"):
        return _read_xlsx(data, filename, spec)
    return _read_csv(data, filename, spec)


def read_table_path(path: str | os.PathLike[str], spec: TemplateSpec) -> TableResult:
    """Like `read_table`, for a file on disk: its size is checked before a byte is read."""
    name = os.path.basename(os.fspath(path))
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        return _refused(spec, name, f"cannot read the file: {exc.strerror}")
    if size > MAX_FILE_BYTES:
        return _refused(spec, name, _too_big(size))
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)  # the file may have grown since the stat
    except OSError as exc:
        return _refused(spec, name, f"cannot read the file: {exc.strerror}")
    return read_table(data, name, spec)


def read_upload(stream: BinaryIO, limit: int = MAX_FILE_BYTES) -> bytes | None:
    """Read an upload (a socket, a SpooledTemporaryFile) but never more than `limit` + 1 bytes:
    None when it is larger, so a 50 MB upload costs 20 MiB of memory, not 50."""
    chunks: list[bytes] = []
    total = 0
    while total <= limit:
        chunk = stream.read(min(1 << 20, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return None if total > limit else b"".join(chunks)


def read_table_stream(stream: BinaryIO, filename: str, spec: TemplateSpec) -> TableResult:
    """Like `read_table`, for an upload stream: reads at most MAX_FILE_BYTES + 1 bytes."""
    data = read_upload(stream)
    if data is None:
        return _refused(spec, filename, _too_big(None))
    return read_table(data, filename, spec)


def _too_big(size: int | None) -> str:
    limit = f"{MAX_FILE_BYTES >> 20} MiB"
    actual = f" ({size / (1 << 20):.1f} MiB)" if size is not None else ""
    return f"the file is larger than {limit}{actual}: split it into smaller files"


# Signatures of files officers upload by mistake, and what to tell them.
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (_OLE2, "this is an old Excel 97-2003 (.xls) or WPS (.et) workbook, or a password-protected one: "
            "open it and save it as Excel Workbook (.xlsx) or CSV, without a password"),
    (b"%PDF", "this is a PDF document, not a spreadsheet: import the Excel (.xlsx) or CSV file it was made from"),
    (b"\x89PNG", "this is an image (PNG), not a spreadsheet"),
    (b"\xff\xd8\xff", "this is an image (JPEG), not a spreadsheet"),
    (b"GIF8", "this is an image (GIF), not a spreadsheet"),
    (b"II*\x00", "this is an image (TIFF), not a spreadsheet"),
    (b"MM\x00*", "this is an image (TIFF), not a spreadsheet"),
    (b"\x1f\x8b", "this is a compressed (gzip) archive: unpack it and import the spreadsheet inside"),
    (b"Rar!", "this is a RAR archive: unpack it and import the spreadsheet inside"),
    (b"7z\xbc\xaf\x27\x1c", "this is a 7-Zip archive: unpack it and import the spreadsheet inside"),
    (b"{\\rtf", "this is a Word (RTF) document, not a spreadsheet"),
)
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def _not_a_spreadsheet(data: bytes) -> str | None:
    for magic, message in _SIGNATURES:
        if data.startswith(magic):
            return message
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "this is an image (WebP), not a spreadsheet"
    if data.startswith(b"PK"):
        return None
    head = data[:SNIFF_BYTES]
    if head.startswith(_UTF16_BOMS):
        return None  # Excel's "Unicode Text": UTF-16, tab-separated; read as CSV
    if b"\x00" in head:
        return "this is a binary file, not a spreadsheet: import an Excel Workbook (.xlsx) or a CSV file"
    lowered = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if lowered.startswith((b"<html", b"<!doctype", b"<table", b"<?xml", b"<meta")):
        # Many government systems "export to Excel" by writing a web page or an XML Spreadsheet 2003
        # and naming it .xls; Excel opens it with a warning, we cannot read it as a table.
        return ("this is a web page or XML file (often exported by another system with an .xls name), "
                "not a workbook: open it in Excel and save it as Excel Workbook (.xlsx)")
    return None


@dataclass(slots=True)
class _Sheet:
    """A file opened for reading: its rows as raw cells, and how to turn a raw cell into text."""

    fmt: str
    encoding: str | None
    rows: Iterator[tuple[int, Sequence[object]]]  # (row number, raw cells)
    text: Callable[[object, ColumnSpec | None], tuple[str, str | None]]  # raw -> (text, problem)
    notes: list[Problem] = field(default_factory=list)  # warnings about the file as a whole
    decode_note: str | None = None  # when the text was not UTF-8: where UTF-8 failed


# ---- CSV

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SEP_LINE = re.compile(r"sep=([,;\t|])\r?\n")
_ZERO_WIDTH = "\u200b\ufeff"


def _decode(data: bytes) -> tuple[str | None, str, str | None]:
    """(text, encoding, why UTF-8 failed): UTF-8 (a BOM is dropped), else GB18030, the superset
    of GBK that Excel on Chinese Windows writes; UTF-16 when it has a BOM."""
    if data.startswith(_UTF16_BOMS):
        try:
            return data.decode("utf-16"), "utf-16", None
        except UnicodeDecodeError:
            return None, "utf-16", None
    try:
        if data.startswith(codecs.BOM_UTF8):
            return data[3:].decode("utf-8"), "utf-8-sig", None
        return data.decode("utf-8"), "utf-8", None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        utf8_error = f"not UTF-8 from line {line}, byte {exc.start + 1}"
    try:
        return data.decode("gb18030"), "gb18030", utf8_error
    except UnicodeDecodeError:
        return None, "", utf8_error


def _sniff_delimiter(text: str) -> str:
    """Comma, tab or semicolon: whichever the header line has most of (a comma when none)."""
    first = text.lstrip("\r\n").split("\n", 1)[0]
    counts = {d: first.count(d) for d in (",", "\t", ";")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


class _ReadError(Exception):
    """Raised inside a row iterator, turned into one problem by `_collect`."""

    def __init__(self, row: int | None, message: str):
        super().__init__(message)
        self.row = row
        self.message = message


def _csv_rows(text: str, delimiter: str) -> Iterator[tuple[int, Sequence[object]]]:
    # Each record is one spreadsheet row (a quoted cell may span lines), and Excel shows a blank
    # line as a row too, so the record count is the row number the officer sees.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    n = 0
    record: list[str] = []
    try:
        for record in reader:
            n += 1
            yield n, record
    except csv.Error as exc:
        raise _ReadError(n + 1, f"row {n + 1} cannot be read as CSV ({exc}): is a quote (\") left open?") from None
    # A quote opened and never closed swallows the rest of the file into the last cell of one row,
    # silently: the rows after it would vanish. A real cell with line breaks in the file's last
    # cell, whose later lines hold the delimiter, is much rarer than a stray quote.
    if record and "\n" in record[-1] and delimiter in record[-1].split("\n", 1)[1]:
        raise _ReadError(n, f"a quote (\") in row {n} is never closed, so the rest of the file runs into one "
                            "cell: remove the stray quote or close it")


def _csv_text(raw: object, column: ColumnSpec | None) -> tuple[str, str | None]:
    s = raw.strip()  # type: ignore[union-attr]
    if s and (s[0] in _ZERO_WIDTH or s[-1] in _ZERO_WIDTH):
        s = s.strip(_ZERO_WIDTH + " \t\u3000\xa0")
    if len(s) > MAX_CELL_CHARS:
        return s, f"the cell holds {len(s)} characters; at most {MAX_CELL_CHARS} are read"
    return s, None


def _open_csv(data: bytes) -> _Sheet | str:
    text, encoding, utf8_error = _decode(data)
    if text is None:
        return ("the file is neither UTF-8 nor GBK text"
                + (f" ({utf8_error})" if utf8_error else "")
                + ": save it from Excel as \"CSV UTF-8\" or as Excel Workbook (.xlsx)")
    text = text.rstrip("\x1a")  # an old DOS end-of-file mark
    bad = _CONTROL.search(text)
    if bad:
        return (f"the file holds a control character (code {ord(bad.group()):#04x}) and is not a text file: "
                "import an Excel Workbook (.xlsx) or a CSV file")
    # "sep=;" on the first line tells Excel the delimiter; Excel then hides the line, so the header
    # is row 1 to the officer and must be row 1 here too.
    m = _SEP_LINE.match(text)
    if m:
        delimiter, text = m.group(1), text[m.end():]
    else:
        delimiter = _sniff_delimiter(text)
    sheet = _Sheet("csv", encoding, _csv_rows(text, delimiter), _csv_text)
    if encoding == "gb18030":
        sheet.decode_note = utf8_error
    return sheet


def _read_csv(data: bytes, filename: str, spec: TemplateSpec) -> TableResult:
    sheet = _open_csv(data)
    if isinstance(sheet, str):
        return _refused(spec, filename, sheet, "csv")
    return _collect(sheet, filename, spec)


# ---- XLSX

_EXCEL_ERRORS = frozenset({"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA",
                           "#SPILL!", "#CALC!"})


def _open_zip(data: bytes) -> zipfile.ZipFile | str:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        names = set(zf.namelist())
        unzipped = sum(i.file_size for i in zf.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return "the file looks like an Excel workbook (.xlsx) but is damaged or incomplete: save it again"
    if "xl/workbook.xml" not in names:
        if "xl/workbook.bin" in names:
            return "this is an Excel Binary Workbook (.xlsb): save it as Excel Workbook (.xlsx)"
        if "word/document.xml" in names:
            return "this is a Word document, not a spreadsheet"
        if any(n.startswith("ppt/") for n in names):
            return "this is a PowerPoint presentation, not a spreadsheet"
        if "mimetype" in names:
            return "this is an OpenDocument file (.ods): save it as Excel Workbook (.xlsx)"
        return "this is a zip archive, not an Excel workbook: unpack it and import the spreadsheet inside"
    if unzipped > MAX_UNZIPPED_BYTES:
        return f"the workbook unpacks to more than {MAX_UNZIPPED_BYTES >> 20} MiB: split it into smaller files"
    return zf


def _number_text(x: float | int) -> str:
    # What Excel shows in its formula bar: at most 15 significant digits. A formula's
    # 0.1 + 0.2 is 0.30000000000000004 as a double; Excel (and the officer) see 0.3.
    if isinstance(x, int):
        return str(x)
    if x.is_integer():
        return str(int(x))
    return format(x, f".{EXCEL_DIGITS}g")


def _lost_digits(column: ColumnSpec | None, shown: str) -> str:
    what = {ID_NUMBER: "the ID number", BANK_ACCOUNT: "the account number"}.get(
        column.kind if column else "", "this number")
    return (f"{what} was typed as a number, and Excel keeps only {EXCEL_DIGITS} digits of a number, so the "
            f"last digits are lost (Excel holds {shown}): format the column as Text (文本) and type it again")


def _xlsx_text(cell: object, column: ColumnSpec | None) -> tuple[str, str | None]:
    value = getattr(cell, "value", None)
    if value is None:
        return "", None
    if isinstance(value, str):
        s, problem = _csv_text(value, column)
        if s in _EXCEL_ERRORS:
            return s, f"the cell shows the Excel error {s}: correct the formula or type the value"
        return s, problem
    if isinstance(value, bool):
        return ("TRUE" if value else "FALSE"), None
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat(), None
        return value.isoformat(sep=" ", timespec="seconds"), None
    if isinstance(value, dt.date | dt.time):
        return value.isoformat(), None
    if isinstance(value, dt.timedelta):
        return str(value), None
    if isinstance(value, int):
        # Exact: an int in the file was written by a program, not rounded by Excel's doubles.
        if column is not None and column.kind == PERCENT:
            return _percent(cell, str(value), value)
        return str(value), None
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value), "the cell holds no finite number"
        if abs(value) >= 10**EXCEL_DIGITS:
            shown = format(value, f".{EXCEL_DIGITS}g").upper()
            return shown, _lost_digits(column, shown)
        if column is not None and column.kind == PERCENT:
            return _percent(cell, _number_text(value), value)
        return _number_text(value), None
    return str(value), None


def _percent(cell: object, text: str, value: float | int) -> tuple[str, str | None]:
    # A cell formatted as a percentage shows 4.35% but holds 0.0435: give the text the officer
    # sees, so a 年利率(%) column reads 4.35, not 0.0435.
    try:
        fmt = cell.number_format  # type: ignore[attr-defined]
    except (AttributeError, IndexError, KeyError):
        return text, None
    if "%" in fmt:
        return _number_text(value * 100) + "%", None
    return text, None


def _xlsx_rows(ws: object) -> Iterator[tuple[int, Sequence[object]]]:
    # ReadOnlyWorksheet.iter_rows yields every row from 1, gaps filled, so enumerate gives the
    # row number Excel shows.
    for n, cells in enumerate(ws.iter_rows(), start=1):  # type: ignore[attr-defined]
        if n > 1_048_576:  # Excel's own limit: a sheet claiming more is broken
            raise _ReadError(n, "the sheet has more rows than Excel allows")
        yield n, cells


def _read_xlsx(data: bytes, filename: str, spec: TemplateSpec) -> TableResult:
    zf = _open_zip(data)
    if isinstance(zf, str):
        return _refused(spec, filename, zf, "xlsx")
    zf.close()
    from openpyxl import load_workbook  # a seventh of a second to import; most commands never read XLSX

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds on a malformed file; all mean "unreadable"
        return _refused(spec, filename, f"the workbook cannot be read ({type(exc).__name__}: {str(exc)[:200]}): "
                                        "open it in Excel and save it again as Excel Workbook (.xlsx)", "xlsx")
    try:
        if not wb.worksheets:
            return _refused(spec, filename, "the workbook has no worksheet", "xlsx")
        ws = wb.worksheets[0]
        # Some programs write a wrong used range (<dimension>); read-only mode would trust it and
        # cut rows or columns off. Forget it and read what is there.
        ws.reset_dimensions()
        sheet = _Sheet("xlsx", None, _xlsx_rows(ws), _xlsx_text)
        if len(wb.sheetnames) > 1:
            sheet.notes.append(Problem("file", "file", filename[:MAX_VALUE_CHARS],
                                       f"only the first sheet, {ws.title!r}, is read; the workbook has "
                                       f"{len(wb.sheetnames)} sheets", row=None))
        try:
            return _collect(sheet, filename, spec, first_sheet=ws.title if len(wb.sheetnames) > 1 else None)
        except Exception as exc:  # a damaged sheet part fails only while it is being read
            return _refused(spec, filename, f"the worksheet cannot be read ({type(exc).__name__}): "
                                            "open it in Excel and save it again as Excel Workbook (.xlsx)", "xlsx")
    finally:
        wb.close()


# ---- Header and rows (both formats)


def _header_problem(letter: str, field_: str, value: str, message: str) -> Problem:
    return Problem(f"{letter}1", field_, value[:MAX_VALUE_CHARS], message, row=1)


def _is_blank_row(cells: Sequence[object], sheet: _Sheet) -> bool:
    return all(not sheet.text(c, None)[0] for c in cells)


def _collect(sheet: _Sheet, filename: str, spec: TemplateSpec, first_sheet: str | None = None) -> TableResult:
    try:
        return _collect_rows(sheet, filename, spec, first_sheet)
    except _ReadError as exc:
        p = Problem("file" if exc.row is None else f"row {exc.row}", "file", filename[:MAX_VALUE_CHARS],
                    exc.message, row=exc.row)
        return TableResult(spec.name, sheet.fmt, sheet.encoding, (), (), (p,), tuple(sheet.notes))


def _collect_rows(sheet: _Sheet, filename: str, spec: TemplateSpec, first_sheet: str | None) -> TableResult:
    warnings: list[Problem] = list(sheet.notes)

    def refuse(message: str) -> TableResult:
        return _refused(spec, filename, message, sheet.fmt, sheet.encoding, warnings)

    first = next(sheet.rows, None)
    if first is None or _is_blank_row(first[1], sheet):
        later = next((n for n, cells in sheet.rows if not _is_blank_row(cells, sheet)), None)
        if later is None:
            where = f"the first sheet, {first_sheet!r}, is empty" if first_sheet else "the file has no rows"
            return refuse(f"{where}: expected a header row and data rows")
        return refuse(f"row 1 is blank and the first filled row is {later}: the header must be in row 1")

    header_cells = [sheet.text(c, None)[0] for c in first[1]]
    while header_cells and not header_cells[-1]:
        header_cells.pop()
    if len(header_cells) > MAX_COLUMNS:
        return refuse(f"the header row has {len(header_cells)} columns; at most {MAX_COLUMNS} are read")

    lookup = header_lookup(spec)
    problems: list[Problem] = []
    found: dict[str, list[int]] = {}
    unknown: list[int] = []
    for i, text in enumerate(header_cells):
        letter = column_letter(i)
        if not text:
            before = next((j for j in range(i - 1, -1, -1) if header_cells[j]), None)
            hint = (f" (after {header_cells[before]!r} in {column_letter(before)}1: merged header cells?)"
                    if before is not None else "")
            problems.append(_header_problem(letter, letter, "", f"header cell {letter}1 is blank{hint}: every "
                                            "column needs its own header in row 1; unmerge the cells and name "
                                            "each column"))
            continue
        key = lookup.get(header_name_key(text))
        if key is None:
            unknown.append(i)
        else:
            found.setdefault(key, []).append(i)
    for key, indexes in found.items():
        if len(indexes) > 1:
            letters = " and ".join(column_letter(i) for i in indexes)
            problems.append(_header_problem(column_letter(indexes[1]), key, header_cells[indexes[1]],
                                            f"columns {letters} are both {spec.column(key).label}: "
                                            "keep one of them"))
    missing = [c for c in spec.columns if c.required and c.key not in found]
    if missing and not found:
        title = _title_row_hint(sheet, spec, header_cells)
        if title:
            return refuse(title)
    for c in missing:
        problems.append(Problem("header", c.key, "", f"required column {c.label} is missing from row 1", row=1))
    if missing:
        other = _better_template(spec, header_cells)
        if other:
            problems.append(Problem("header", "file", "", f"these headers are those of the {other.name} "
                                    f"template ({other.zh}): was the wrong import chosen?", row=1))
        if not found and sheet.decode_note:
            problems.append(_file_problem(filename, f"the file is not UTF-8 ({sheet.decode_note}) and read as "
                                                    "GBK it has no known header: save it as \"CSV UTF-8\""))
    for i in unknown:
        letter = column_letter(i)
        close = difflib.get_close_matches(header_name_key(header_cells[i]), list(lookup), n=1, cutoff=0.6)
        hint = f" (did you mean {spec.column(lookup[close[0]]).label}?)" if close else ""
        warnings.append(_header_problem(letter, letter, header_cells[i],
                                        f"column {letter} {header_cells[i]!r} is not part of the {spec.name} "
                                        f"template and is ignored{hint}"))
    if problems:
        return TableResult(spec.name, sheet.fmt, sheet.encoding, (), (), tuple(problems), tuple(warnings))

    columns = tuple(ColumnAt(key, idx[0], column_letter(idx[0]), header_cells[idx[0]])
                    for key, idx in sorted(found.items(), key=lambda kv: kv[1][0]))
    plan = [(c, spec.column(c.key)) for c in columns]
    width = len(header_cells)
    cells_problems = ProblemList()
    rows: list[RowValues] = []
    headerless: set[int] = set()
    text_of = sheet.text
    for n, cells in sheet.rows:
        values: dict[str, str] = {}
        filled = False
        row_problems: list[Problem] = []
        ncells = len(cells)
        for at, col in plan:
            if at.index >= ncells:
                values[at.key] = ""
                continue
            s, problem = text_of(cells[at.index], col)
            values[at.key] = s
            if s:
                filled = True
            if problem:
                row_problems.append(cell_problem(at, n, s, problem))
        if ncells > width:
            for j in range(width, min(ncells, MAX_COLUMNS)):
                if j not in headerless and text_of(cells[j], None)[0]:
                    headerless.add(j)
        if not filled:
            continue  # a blank row (or notes only in columns the template does not have)
        if len(rows) >= MAX_ROWS:
            return refuse(f"the file has more than {MAX_ROWS:,} data rows: split it into smaller files")
        for p in row_problems:
            cells_problems.add(p)
        rows.append(RowValues(n, values))
    for j in sorted(headerless):
        letter = column_letter(j)
        warnings.append(_header_problem(letter, letter, "", f"column {letter} has values but no header and is ignored"))
    if not rows:
        return refuse("the file has a header but no data rows")
    return TableResult(spec.name, sheet.fmt, sheet.encoding, columns, tuple(rows), cells_problems.result(),
                       tuple(warnings))


def _known_headers(spec: TemplateSpec, header_cells: Sequence[str]) -> set[str]:
    lookup = header_lookup(spec)
    return {lookup[k] for k in map(header_name_key, header_cells) if k in lookup}


def _title_row_hint(sheet: _Sheet, spec: TemplateSpec, header_cells: Sequence[str]) -> str | None:
    """When row 1 matches no column but one of the next few rows does, row 1 is a title
    (玉田县2026年产业补助发放清册) above the real header: say so instead of listing every column
    as missing."""
    for _ in range(4):
        nxt = next(sheet.rows, None)
        if nxt is None:
            return None
        n, cells = nxt
        texts = [sheet.text(c, None)[0] for c in cells]
        if len(_known_headers(spec, texts)) >= 2:
            title = next((t for t in header_cells if t), "")
            return (f"row 1 is not the header: the header is in row {n}, under {title[:40]!r}; delete the rows "
                    f"above it so that the header is row 1")
    return None


def _better_template(spec: TemplateSpec, header_cells: Sequence[str]) -> TemplateSpec | None:
    for other in TEMPLATES.values():
        if other.name == spec.name:
            continue
        required = {c.key for c in other.columns if c.required}
        if required <= _known_headers(other, header_cells):
            return other
    return None


# --------------------------------------------------------------------------------------------
# The error sheet

ERROR_COLUMN = "错误 / errors"


def error_sheet(data: bytes, filename: str, problems: Sequence[Problem],
                warnings: Sequence[Problem] = ()) -> bytes:
    """A copy of the officer's first sheet as XLSX, with a first column "错误 / errors" holding the
    messages for each row. Every row keeps its row number, so "row 7" in the list is row 7 here
    (the original columns move one to the right). Problems of the file as a whole (row None, or
    the header's row 1) go in note rows below the data. A second sheet lists every problem as
    row, column, value, message. Text that a spreadsheet would run as a formula is escaped.

    A file that cannot be read (too big, not a spreadsheet) gives a workbook with the notes only.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    red, bold = Font(color="C00000"), Font(bold=True)
    by_row: dict[int, list[str]] = {}
    notes: list[str] = []
    for severity, items in (("", problems), ("warning: ", warnings)):
        for p in items:
            text = _sheet_message(p, severity)
            if p.row is None or p.row == 1:
                notes.append(text)
            else:
                by_row.setdefault(p.row, []).append(text)

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("错误标注 errors")

    def out(value: object) -> object:
        if isinstance(value, str):
            return _safe_text(value)
        if isinstance(value, dt.datetime | dt.date | dt.time):
            c = WriteOnlyCell(ws, value=value)
            c.number_format = "yyyy-mm-dd" if type(value) is dt.date else "yyyy-mm-dd hh:mm:ss"
            return c
        if isinstance(value, dt.timedelta):
            return str(value)
        return value

    def message_cell(text: str, font: Font = red) -> WriteOnlyCell:
        c = WriteOnlyCell(ws, value=_safe_text(text))
        c.font = font
        return c

    written = 0
    for n, values in _raw_rows(data):
        while written < n - 1:  # rows the original skips stay where they were
            written += 1
            ws.append([message_cell("; ".join(by_row.get(written, [])))] if written in by_row else [])
        written = n
        first = (message_cell(ERROR_COLUMN, bold) if n == 1
                 else message_cell("; ".join(by_row.get(n, [])) if n in by_row else ""))
        ws.append([first, *(out(v) for v in values)])
    if written == 0:
        ws.append([message_cell(ERROR_COLUMN, bold)])
        written = 1
    for n in sorted(r for r in by_row if r > written):  # rows named in problems but not in the copy
        while written < n - 1:
            written += 1
            ws.append([])
        ws.append([message_cell("; ".join(by_row[n]))])
        written = n
    if notes:
        ws.append([])
        for text in notes:
            ws.append([message_cell("文件 / file"), message_cell(text)])

    listing = wb.create_sheet("问题清单 problems")
    listing.append(["行 row", "列 column", "位置 where", "值 value", "问题 message", "级别 severity"])
    for severity, items in (("error", problems), ("warning", warnings)):
        for p in items:
            listing.append([p.row, _safe_text(p.field), _safe_text(p.where), _safe_text(p.value),
                            _safe_text(p.message), severity])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _sheet_message(p: Problem, severity: str) -> str:
    shown = f" {p.value!r}" if p.value else ""
    return f"{severity}{p.where}{shown}: {p.message}"


def _safe_text(text: str) -> str:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    return escape_formula(ILLEGAL_CHARACTERS_RE.sub("", text)[:EXCEL_MAX_CELL_CHARS])


def _raw_rows(data: bytes) -> Iterator[tuple[int, list[object]]]:
    """The first sheet's rows as the officer typed them (text from a CSV; numbers, dates and text
    from an XLSX), trailing blanks dropped, for the error sheet. Nothing when unreadable."""
    if len(data) > MAX_FILE_BYTES or not data.strip() or _not_a_spreadsheet(data):
        return
    if data.startswith(b"PK"):
        zf = _open_zip(data)
        if isinstance(zf, str):
            return
        zf.close()
        from openpyxl import load_workbook

        try:
            wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception:  # unreadable: the notes say why
            return
        try:
            if not wb.worksheets:
                return
            ws = wb.worksheets[0]
            ws.reset_dimensions()
            try:
                for n, cells in enumerate(ws.iter_rows(values_only=True), start=1):
                    if n > MAX_ROWS + 1:
                        return
                    values = list(cells[:MAX_COLUMNS])
                    while values and values[-1] in (None, ""):
                        values.pop()
                    yield n, values
            except Exception:  # a damaged sheet: the copy ends where reading failed
                return
        finally:
            wb.close()
        return
    sheet = _open_csv(data)
    if isinstance(sheet, str):
        return
    try:
        for n, cells in sheet.rows:
            if n > MAX_ROWS + 1:
                return
            values = [c[:MAX_CELL_CHARS] for c in cells[:MAX_COLUMNS]]  # type: ignore[index]
            while values and not str(values[-1]).strip():
                values.pop()
            yield n, values
    except _ReadError:
        return
