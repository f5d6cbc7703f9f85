"""Excel (XLSX) and CSV exports of any list: a header row and value rows, nothing else.

Cells a spreadsheet would run as a formula (text starting with =, +, -, @, tab or CR) are
prefixed with an apostrophe, so an exported memo can never execute in an officer's Excel.
Amounts go out as exact decimals; the XLSX cells get a two-decimal number format.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from decimal import Decimal

MAX_ROWS = 100_000
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def _cell(value: object) -> object:
    if isinstance(value, str):
        return escape_formula(value)
    return value


def to_csv(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """UTF-8 with BOM so Excel opens Chinese text correctly."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(headers)
    for n, row in enumerate(rows):
        assert n < MAX_ROWS, "export is capped"
        w.writerow(["" if v is None else _cell(v if not isinstance(v, Decimal) else str(v)) for v in row])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def to_xlsx(headers: Sequence[str], rows: Iterable[Sequence[object]], sheet: str = "Sheet1") -> bytes:
    # Imported here: openpyxl costs a seventh of a second, and most commands never export.
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=sheet[:31])
    ws.append(list(headers))
    for n, row in enumerate(rows):
        assert n < MAX_ROWS, "export is capped"
        out = []
        for v in row:
            if isinstance(v, Decimal):
                c = WriteOnlyCell(ws, value=v)
                c.number_format = "#,##0.00"
                out.append(c)
            elif isinstance(v, dt.datetime):
                c = WriteOnlyCell(ws, value=v.replace(microsecond=0))
                c.number_format = "yyyy-mm-dd hh:mm:ss"
                out.append(c)
            elif isinstance(v, dt.date):
                c = WriteOnlyCell(ws, value=v)
                c.number_format = "yyyy-mm-dd"
                out.append(c)
            else:
                out.append(_cell(v))
        ws.append(out)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
