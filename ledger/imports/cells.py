"""Cell values of officers' spreadsheets: one parser per column kind, and whole-table validation.

Owns what officers really type in a cell and what it means: "1,234.5", "¥200" and "200元" are
amounts, "2026/3/2" and "2026年3月2日" are dates, 脱贫户 is `exited`. Each parser takes the cell text
(already trimmed by ledger/imports/tabular.py) and returns (value, None) or (None, message); the
message says what is wrong in the officer's terms. Nothing is ever rounded or guessed: "12.345"
yuan is refused, not made 12.35, and "3/2/2026" is refused, not read as 2 March or 3 February.

`validate_rows` applies the parsers to every row of a table, collects every problem at once and
flags natural keys used twice inside the file. It never looks at the database: an unknown village
or household is the caller's to find.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import partial

from ledger.entries import Problem
from ledger.ids import LUHN_WARNING, bank_account_error, luhn_ok, normalise_account, parse_resident_id
from ledger.imports.tabular import (
    AMOUNT,
    BANK_ACCOUNT,
    CODE,
    DATE,
    ENUM,
    ID_NUMBER,
    INT,
    MAX_CODE_CHARS,
    MAX_TEXT_CHARS,
    MONTH,
    PERCENT,
    TEXT,
    ColumnAt,
    ColumnSpec,
    ProblemList,
    TableResult,
    TemplateSpec,
    cell_problem,
    choice_lookup,
    choice_name_key,
)
from ledger.money import FEN_PER_YUAN, MAX_ABS_FEN, format_yuan

MIN_DATE = dt.date(1900, 1, 1)
MAX_DATE = dt.date(2099, 12, 31)
MAX_YUAN_DIGITS = 13  # 10^13 yuan is MAX_ABS_FEN: far above any county budget
MAX_INT_DIGITS = 9
MAX_PERCENT_DECIMALS = 4
LOW_RATE_PERCENT = Decimal(1)  # below 1 % a year, 0.0435 was probably meant as 4.35 %

Parsed = tuple[object, str | None]


def _fold(text: str) -> str:
    # NFKC turns what a Chinese input method types into ASCII: full-width digits, ．，－ and ￥.
    return unicodedata.normalize("NFKC", text).strip()


_EXPONENT = re.compile(r"[+-]?[0-9](?:\.[0-9]+)?[eE][+-]?[0-9]+\Z")


def _excel_exponent(text: str, what: str) -> str | None:
    """A CSV saved by Excel writes a long number in a General column as 6.53226E+17."""
    if _EXPONENT.match(_fold(text)):
        return (f"{what} shows as {text}: Excel turned it into a number and kept only 15 digits, so the rest "
                "are lost; format the column as Text (文本) and type the numbers again")
    return None


# --------------------------------------------------------------------------------------------
# Amounts

_AMOUNT_FAST = re.compile(r"([0-9]{1,13})(?:\.([0-9]{1,2}))?\Z")  # the common case: 1234.50
_AMOUNT = re.compile(r"(?:([0-9]{1,3}(?:,[0-9]{3})+)|([0-9]*))(?:\.([0-9]*))?\Z")
_CURRENCY_PREFIXES = ("¥", "RMB", "CNY")  # NFKC has already made ￥ into ¥
_CURRENCY_SUFFIXES = ("元整", "元")
_MINUS = ("-", "\u2212")  # ASCII and the typographic minus (NFKC leaves U+2212 alone)


def parse_amount_cell(text: str, *, allow_negative: bool = False) -> Parsed:
    """Yuan as officers type them -> integer fen.

    Accepted: 1234.5, 1,234.50, ¥200, ￥200, 200元, RMB 200, full-width digits, surrounding spaces;
    decimals beyond the second only when they are zeros (12.300). Refused: more than two decimals,
    misplaced commas, 1.5万, exponent forms, negatives unless `allow_negative`, blank.
    """
    m = _AMOUNT_FAST.match(text)
    if m:
        frac = m.group(2) or ""
        return int(m.group(1)) * FEN_PER_YUAN + int(frac.ljust(2, "0")), None
    s = _fold(text)
    if not s:
        return None, "the amount is missing"
    negative = False
    for _ in range(2):  # sign and currency in either order: -¥200, ¥-200
        if s.startswith(_MINUS):
            negative, s = True, s[1:].strip()
        for prefix in _CURRENCY_PREFIXES:
            if s.upper().startswith(prefix):
                s = s[len(prefix):].strip()
    for suffix in _CURRENCY_SUFFIXES:
        if s.endswith(suffix):
            s = s[: -len(suffix)].strip()
            break
    if "万" in s:
        return None, "write the amount in yuan, such as 15000 rather than 1.5万"
    if "角" in s or "分" in s:
        return None, "write the amount in yuan with decimals, such as 12.50 rather than 12元5角"
    if _EXPONENT.match(s):
        return None, "the amount is in exponent form (as Excel shortens long numbers): write it in full"
    m = _AMOUNT.match(s)
    if m is None or not (m.group(1) or m.group(2) or m.group(3)):
        if re.fullmatch(r"[0-9,]+(?:\.[0-9]*)?", s):
            return None, "commas may only separate thousands, as in 1,234.50"
        return None, "not an amount: write yuan with at most two decimals, such as 1234.50"
    whole = (m.group(1) or m.group(2) or "0").replace(",", "")
    frac = m.group(3) or ""
    if len(frac) > 2:
        if frac[2:].strip("0"):
            return None, ("the amount has more than two decimals: yuan have fen, nothing smaller, and the ledger "
                          "never rounds an amount for you; correct it in the sheet (for a formula, =ROUND(…, 2))")
        frac = frac[:2]
    whole = whole.lstrip("0") or "0"
    if len(whole) > MAX_YUAN_DIGITS:
        return None, "the amount is out of range"
    fen = int(whole) * FEN_PER_YUAN + int(frac.ljust(2, "0"))
    if fen > MAX_ABS_FEN:
        return None, "the amount is out of range"
    if negative and fen:
        if not allow_negative:
            return None, "the amount cannot be negative here"
        fen = -fen
    return fen, None


# --------------------------------------------------------------------------------------------
# Dates and months

_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})\Z")
_DATE_YMD = re.compile(
    r"([0-9]{4})([-/.])([0-9]{1,2})\2([0-9]{1,2})(?:[ T][0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?)?\Z")
_DATE_ZH = re.compile(r"([0-9]{4})年([0-9]{1,2})月([0-9]{1,2})[日号]?\Z")
_DATE_COMPACT = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})\Z")
_DATE_SHORT_YEAR = re.compile(r"[0-9]{2}([-/.])[0-9]{1,2}\1[0-9]{1,2}\Z|[0-9]{2}年[0-9]{1,2}月[0-9]{1,2}[日号]?\Z")
_DATE_YEAR_LAST = re.compile(r"[0-9]{1,2}([-/.])[0-9]{1,2}\1[0-9]{4}\Z")
_EXCEL_SERIAL = re.compile(r"[0-9]{5}(?:\.[0-9]+)?\Z")
_DATE_HELP = "write dates as YYYY-MM-DD, such as 2026-03-02"


def _real_date(year: int, month: int, day: int) -> Parsed:
    if not 1 <= month <= 12:
        return None, f"there is no month {month}: {_DATE_HELP}"
    last = calendar.monthrange(year, month)[1]
    if not 1 <= day <= last:
        return None, (f"{year:04d}-{month:02d}-{day:02d} is not a real date: "
                      f"{calendar.month_name[month]} {year} has {last} days")
    d = dt.date(year, month, day)
    if not MIN_DATE <= d <= MAX_DATE:
        return None, f"the date {d.isoformat()} is outside {MIN_DATE.year}–{MAX_DATE.year}"
    return d, None


def parse_date_cell(text: str) -> Parsed:
    """A day -> dt.date. Accepted: 2026-03-02, 2026-3-2, 2026/3/2, 2026.3.2, 2026年3月2日, 20260302,
    and a date with a time (an XLSX date-time cell, as tabular writes it), whose time is dropped.
    Refused with a reason: impossible days, two-digit years, day-month-year orders, bare Excel
    serial numbers (a date column that lost its date format)."""
    m = _ISO_DATE.match(text)
    if m:
        return _real_date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    s = _fold(text)
    if not s:
        return None, "the date is missing"
    m = _DATE_YMD.match(s) or _DATE_ZH.match(s)
    if m:
        groups = [g for g in m.groups() if g and g.isdigit()]
        return _real_date(int(groups[0]), int(groups[1]), int(groups[2]))
    m = _DATE_COMPACT.match(s)
    if m:
        return _real_date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    if _DATE_SHORT_YEAR.match(s):
        return None, f"the year must have four digits (2026, not 26): {_DATE_HELP}"
    if _DATE_YEAR_LAST.match(s):
        return None, (f"{s} puts the year last, so it could be day-month or month-day: {_DATE_HELP}")
    if _EXCEL_SERIAL.match(s):
        return None, (f"{s} looks like an Excel date serial number (the cell lost its date format): "
                      f"format the column as a date or {_DATE_HELP}")
    return None, f"not a date: {_DATE_HELP}"


_ISO_MONTH = re.compile(r"([0-9]{4})-(?:0[1-9]|1[0-2])\Z")  # the common case: 2026-03
_MONTH = re.compile(r"([0-9]{4})([-/.])([0-9]{1,2})\Z")
_MONTH_ZH = re.compile(r"([0-9]{4})年([0-9]{1,2})月份?\Z")
_MONTH_COMPACT = re.compile(r"([0-9]{4})([0-9]{2})\Z")
_MONTH_HELP = "write the month as YYYY-MM, such as 2026-03"


def parse_month_cell(text: str) -> Parsed:
    """A month -> "YYYY-MM". Accepted: 2026-03, 2026-3, 2026/3, 2026.3, 2026年3月, 202603, and the
    first day of a month (Excel turns 2026-03 typed into a cell into the date 2026-03-01).

    2026.1 is refused: Excel stores 2026.10 typed into a number cell as 2026.1, so it may mean
    October as well as January.
    """
    m = _ISO_MONTH.match(text)
    if m and MIN_DATE.year <= int(m.group(1)) <= MAX_DATE.year:
        return text, None
    s = _fold(text)
    if not s:
        return None, "the month is missing"
    m = _MONTH.match(s) or _MONTH_ZH.match(s) or _MONTH_COMPACT.match(s)
    if m:
        groups = [g for g in m.groups() if g.isdigit()]
        year, month = int(groups[0]), int(groups[1])
        if len(m.groups()) == 3 and m.group(2) == "." and m.group(3) == "1":
            return None, (f"{s} is ambiguous: Excel shows 2026.10 (October) as 2026.1 too; "
                          f"{_MONTH_HELP} (2026-01 or 2026-10)")
        if not 1 <= month <= 12:
            return None, f"there is no month {month}: {_MONTH_HELP}"
        if not MIN_DATE.year <= year <= MAX_DATE.year:
            return None, f"the year {year} is outside {MIN_DATE.year}–{MAX_DATE.year}"
        return f"{year:04d}-{month:02d}", None
    day, problem = parse_date_cell(s)
    if isinstance(day, dt.date):
        if day.day == 1:
            return f"{day.year:04d}-{day.month:02d}", None
        return None, f"a month is expected, not a day: {_MONTH_HELP}"
    if problem and "not a date" not in problem:
        return None, problem
    return None, f"not a month: {_MONTH_HELP}"


# --------------------------------------------------------------------------------------------
# Numbers

_INT = re.compile(rf"(-?)([0-9]{{1,{MAX_INT_DIGITS}}})(?:\.0+)?\Z")
_PERCENT = re.compile(r"([0-9]{1,3})(?:\.([0-9]*))?\Z")


def parse_int_cell(text: str) -> Parsed:
    """A whole number -> int: 5, 5.0 (as some programs write whole numbers), full-width digits."""
    s = _fold(text)
    if not s:
        return None, "the number is missing"
    m = _INT.match(s)
    if m:
        n = int(m.group(2))
        return (-n if m.group(1) else n), None
    if re.fullmatch(r"-?[0-9]+\.[0-9]+", s):
        return None, "must be a whole number"
    if re.fullmatch(r"-?[0-9]+", s):
        return None, "the number is out of range"
    return None, "not a whole number: write digits only, such as 36"


def parse_percent_cell(text: str) -> Parsed:
    """A rate in percent -> Decimal: 4.35, 4.35%, ４．３５％; at most four decimals."""
    s = _fold(text)
    if not s:
        return None, "the rate is missing"
    if s.endswith("%"):
        s = s[:-1].strip()
    m = _PERCENT.match(s)
    if m is None:
        return None, "not a rate: write the percentage as a number, such as 4.35 for 4.35 %"
    frac = m.group(2) or ""
    if len(frac) > MAX_PERCENT_DECIMALS and frac[MAX_PERCENT_DECIMALS:].strip("0"):
        return None, f"a rate has at most {MAX_PERCENT_DECIMALS} decimals"
    frac = frac[:MAX_PERCENT_DECIMALS]
    return Decimal(f"{m.group(1)}.{frac}" if frac else m.group(1)), None


# --------------------------------------------------------------------------------------------
# Enums, text, identity numbers


def parse_enum_cell(text: str, column: ColumnSpec) -> Parsed:
    """The English key or the Chinese label (or an alias) of one of the column's choices -> its key."""
    key = choice_lookup(column).get(choice_name_key(text))
    if key is not None:
        return key, None
    if not text.strip():
        return None, "the value is missing"
    options = ", ".join(f"{c.zh} ({c.key})" for c in column.choices)
    return None, f"not one of: {options}"


_LINE_BREAK_OR_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")
_INNER_SPACE = re.compile(r"[\s\u3000]")
_PLAIN_CODE = re.compile(r"[^\s\x00-\x1f\x7f\u2028\u2029]+\Z")  # \s covers the full-width space too


def parse_text_cell(text: str, max_chars: int = MAX_TEXT_CHARS) -> Parsed:
    if not text:
        return None, "the value is missing"
    if len(text) > max_chars:
        return None, f"longer than {max_chars} characters"
    if _LINE_BREAK_OR_CONTROL.search(text):
        return None, "contains a line break, tab or control character: keep the value on one line"
    return text, None


def parse_code_cell(text: str, max_chars: int = MAX_CODE_CHARS) -> Parsed:
    """An identifier (household_no, ref, project_code …): text without spaces inside."""
    if len(text) <= max_chars and _PLAIN_CODE.match(text):
        return text, None
    value, problem = parse_text_cell(text, max_chars)
    if problem:
        return None, problem
    if _INNER_SPACE.search(text):
        return None, "contains a space: a number or code has none"
    return value, None


def parse_id_cell(text: str, as_of: dt.date) -> Parsed:
    """An 18-digit resident ID -> the number (upper-case X), checked as in ledger/ids.py."""
    lost = _excel_exponent(text, "the ID number")
    if lost:
        return None, lost
    resident, problem = parse_resident_id(text, as_of)
    if resident is None:
        return None, problem
    return resident.number, None


def parse_bank_account_cell(text: str) -> Parsed:
    """An account number -> its digits. The Luhn check is not applied here: a failure is only a
    warning (passbook accounts have no check digit), which `validate_rows` reports as one."""
    lost = _excel_exponent(text, "the account number")
    if lost:
        return None, lost
    problem = bank_account_error(text)
    if problem:
        return None, problem
    return normalise_account(text), None


# --------------------------------------------------------------------------------------------
# Whole tables


@dataclass(frozen=True, slots=True)
class Validated:
    """What `validate_rows` found. `records` hold the rows without problems, in file order, each a
    dict of every column key of the template (None for an absent column or a blank optional cell)
    plus "row": the spreadsheet row. Import only when `problems` is empty."""

    records: tuple[dict[str, object], ...]
    problems: tuple[Problem, ...]  # the table's own (reading) problems too: this is the whole list
    warnings: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def _bounded(parse: Callable[[str], Parsed], spec: ColumnSpec, show: Callable[[int], str]) -> Callable[[str], Parsed]:
    if spec.minimum is None and spec.maximum is None:
        return parse
    lo, hi = spec.minimum, spec.maximum

    def parse_bounded(text: str) -> Parsed:
        value, problem = parse(text)
        if problem:
            return value, problem
        if lo is not None and value < lo:  # type: ignore[operator]
            return None, f"must be at least {show(lo)}"
        if hi is not None and value > hi:  # type: ignore[operator]
            return None, f"must be at most {show(hi)}"
        return value, None

    return parse_bounded


def cell_parser(spec: ColumnSpec, as_of: dt.date) -> Callable[[str], Parsed]:
    """The parser of one column: its kind, its bounds and its own check."""
    # functools.partial rather than a closure: it is called once per cell, a million times a file.
    kind = spec.kind
    parse: Callable[[str], Parsed]
    if kind == TEXT:
        parse = partial(parse_text_cell, max_chars=spec.max_chars)
    elif kind == CODE:
        parse = partial(parse_code_cell, max_chars=min(spec.max_chars, MAX_CODE_CHARS))
    elif kind == AMOUNT:
        allow_negative = spec.minimum is not None and spec.minimum < 0
        return _bounded(partial(parse_amount_cell, allow_negative=allow_negative), spec, format_yuan)
    elif kind == DATE:
        return parse_date_cell
    elif kind == MONTH:
        return parse_month_cell
    elif kind == INT:
        return _bounded(parse_int_cell, spec, str)
    elif kind == PERCENT:
        return _bounded(parse_percent_cell, spec, lambda n: f"{n} %")
    elif kind == ENUM:
        lookup = choice_lookup(spec)  # once per column, not once per cell

        def parse_choice(t: str) -> Parsed:
            key = lookup.get(t) or lookup.get(choice_name_key(t))
            return (key, None) if key is not None else parse_enum_cell(t, spec)
        return parse_choice
    elif kind == ID_NUMBER:
        return partial(parse_id_cell, as_of=as_of)
    elif kind == BANK_ACCOUNT:
        return parse_bank_account_cell
    else:
        raise ValueError(f"unknown column kind {kind!r}")
    check = spec.check
    if check is None:
        return parse

    def parse_checked(t: str) -> Parsed:
        value, problem = parse(t)
        if problem is None:
            problem = check(value)  # type: ignore[arg-type]
            if problem:
                return None, problem
        return value, problem

    return parse_checked


def _warner(spec: ColumnSpec) -> Callable[[object], str | None] | None:
    """What is worth a warning but no refusal, by column kind."""
    if spec.kind == BANK_ACCOUNT:
        return lambda digits: None if luhn_ok(digits) else LUHN_WARNING  # type: ignore[arg-type]
    if spec.kind == PERCENT:
        def low_rate(rate: object) -> str | None:
            if not 0 < rate < LOW_RATE_PERCENT:  # type: ignore[operator]
                return None
            meant = (rate * 100).normalize()  # type: ignore[operator]
            return f"a rate of {rate} % a year is very low: if {meant} % is meant, write {meant}"
        return low_rate
    return None


MAX_REMEMBERED_CELLS = 100_000  # per column and file: what a payment roll repeats (dates, IDs, cards)


def _remembering(parse):
    """A column's parser, remembering its answer per cell text. The parsers are pure functions of the
    text (and the file's as-of date) returning immutable values, and a roll repeats most of its cells:
    the pay date and month on every row, each payee's ID and card once a month."""
    memo: dict[str, tuple] = {}

    def parse_once(text: str) -> tuple:
        hit = memo.get(text)
        if hit is None:
            hit = parse(text)
            if len(memo) < MAX_REMEMBERED_CELLS:
                memo[text] = hit
        return hit

    return parse_once


def validate_rows(table: TableResult, spec: TemplateSpec, *, as_of: dt.date | None = None) -> Validated:
    """Every row of `table` through its column parsers: every problem as (row, column, value,
    message), natural keys used twice in the file (reported at each later row, naming the first),
    date pairs out of order. Warnings: bank accounts failing Luhn, implausibly low rates, and
    the table's own. `as_of` (default today) bounds the birth dates in ID numbers."""
    as_of = as_of or dt.date.today()
    problems = ProblemList()
    warnings = ProblemList(table.warnings)  # a county of passbook accounts warns on every row
    if not table.rows:
        return Validated((), tuple(table.problems), warnings.result())
    # Cells tabular already found unreadable (an ID that lost its digits to Excel) are not judged
    # again: one cell, one message.
    flagged = {(p.row, p.field) for p in table.problems}
    flagged_rows = {row for row, _ in flagged}
    plan = []
    for at in table.columns:
        col = spec.column(at.key)
        plan.append((at.key, at, col, col.required, _remembering(cell_parser(col, as_of)), _warner(col)))
    present = {at.key for at in table.columns}
    absent = [c.key for c in spec.columns if c.key not in present]
    where: dict[str, ColumnAt] = {at.key: at for at in table.columns}
    seen: list[dict[tuple[object, ...], int]] = [{} for _ in spec.unique]
    records: list[dict[str, object]] = []
    for r in table.rows:
        n = r.row
        values = r.values
        rec: dict[str, object] = {"row": n}
        bad = False
        check_flags = n in flagged_rows
        for key, at, col, required, parse, warn in plan:
            text = values.get(key, "")
            if check_flags and (n, key) in flagged:
                bad = True
                rec[key] = None
                continue
            if not text:
                rec[key] = None
                if required:
                    bad = True
                    problems.add(cell_problem(at, n, "", f"{col.label} is required but the cell is blank"))
                continue
            value, message = parse(text)
            if message:
                bad = True
                rec[key] = None
                problems.add(cell_problem(at, n, text, message))
                continue
            rec[key] = value
            if warn is not None:
                warning = warn(value)
                if warning:
                    warnings.add(cell_problem(at, n, text, warning))
        for key in absent:
            rec[key] = None
        for earlier, later in spec.date_order:
            a, b = rec.get(earlier), rec.get(later)
            if isinstance(a, dt.date) and isinstance(b, dt.date) and b < a:
                bad = True
                problems.add(cell_problem(where[later], n, r.values.get(later, ""),
                                          f"{spec.column(later).label} {b.isoformat()} is before "
                                          f"{spec.column(earlier).label} {a.isoformat()}"))
        for i, keys in enumerate(spec.unique):
            value_key = tuple(rec.get(k) for k in keys)
            if any(v is None for v in value_key):
                continue
            first = seen[i].setdefault(value_key, n)
            if first != n:
                bad = True
                labels = " + ".join(spec.column(k).label for k in keys)
                problems.add(cell_problem(where[keys[0]], n, r.values.get(keys[0], ""),
                                          f"the same {labels} as row {first}: each may appear only once in a file"))
        if not bad:
            records.append(rec)
    # File order: the file's own problems first, then row by row (reading problems before the
    # parsers' within a row; the sort is stable).
    combined = ProblemList(sorted((*table.problems, *problems.items), key=lambda p: (p.row is not None, p.row or 0)))
    combined.more += problems.more
    return Validated(tuple(records), combined.result(), warnings.result())
