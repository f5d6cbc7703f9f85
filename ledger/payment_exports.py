"""Exports of payment batches and of a household's statement (收款明细) as XLSX or CSV, audited.

The use cases the pages' download links call. They read through ledger.payments' own readers (so the
same permission and township scope apply as on screen) and write the audit row in their own
transaction, like services.export_list. Amounts go out as exact Decimal yuan, never floats.

Neither export carries a resident ID or an account number: a batch list has none, and a statement
line is the household's own money, by project and fund.
"""

from __future__ import annotations

import dataclasses

from sqlalchemy import Engine

from ledger import audit, exports, payments
from ledger.db import unit_of_work
from ledger.entries import Problem
from ledger.journal import LedgerRefusal
from ledger.models import utcnow
from ledger.money import fen_to_yuan, format_yuan
from ledger.permissions import Actor, require
from ledger.queries import MAX_EXPORT_ROWS, MAX_PAGE_SIZE

FORMATS = ("xlsx", "csv")


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise LedgerRefusal([Problem("export", "format", fmt, "format must be xlsx or csv")])


def _write(actor: Actor, engine: Engine, list_name: str, fmt: str, headers: list[str], rows: list[list],
           params: dict) -> tuple[str, bytes]:
    data = exports.to_xlsx(headers, rows, list_name) if fmt == "xlsx" else exports.to_csv(headers, rows)
    name = f"huimin-{list_name.replace('_', '-')}-{utcnow().strftime('%Y%m%d-%H%M%S')}.{fmt}"
    with unit_of_work(engine) as s:
        audit.record(s, actor, "export." + list_name, "export", name,
                     after={"format": fmt, "rows": len(rows), "params": params})
    return name, data


def export_batches(engine: Engine, actor: Actor, f: payments.BatchFilter, fmt: str) -> tuple[str, bytes]:
    """The whole filtered batch list (not just the page on screen), newest first. Returns (name, bytes)."""
    _check_format(fmt)
    require(actor, "payment.read")
    items: list[payments.BatchView] = []
    page = 1
    # Page by page through the list's own reader, so the scope rule is the one the screen uses.
    while len(items) < MAX_EXPORT_ROWS:
        got = payments.list_batches(engine, actor, f, page, MAX_PAGE_SIZE)
        items.extend(got.items)
        if page >= got.pages or not got.items:
            break
        page += 1
    items = items[:MAX_EXPORT_ROWS]
    headers = ["batch_no 批次号", "project_code 项目编号", "project_name 项目名称", "township 乡镇", "purpose 用途",
               "status 状态", "declared_count 申报笔数", "declared_total 申报金额", "row_count 笔数", "total 金额",
               "paid 已支付笔数", "failed 退票笔数", "disclosed_on 公示开始", "disclosure_until 可审批日期",
               "prepared_by 制单人", "prepared_at 制单时间", "decided_by 审核人", "decided_at 审核时间",
               "reason 驳回原因", "reissue 重新发放", "history 历史数据"]
    rows = [[b.batch_no, b.project_code, b.project_name, b.township or "全县",
             payments.PURPOSE_NAMES_ZH.get(b.purpose, b.purpose),
             payments.BATCH_STATUS_NAMES_ZH.get(b.status, b.status), b.declared_count,
             fen_to_yuan(b.declared_total_fen), b.row_count, fen_to_yuan(b.total_fen), b.paid_count, b.failed_count,
             b.disclosed_on, b.disclosure_until, b.prepared_by or "", b.prepared_at, b.decided_by or "",
             b.decided_at, b.reason or "", "是" if b.is_reissue else "", "是" if b.is_history else ""]
            for b in items]
    return _write(actor, engine, "payment_batches", fmt, headers, rows,
                  {k: v for k, v in dataclasses.asdict(f).items() if v})


def fund_sources_text(funds: tuple[tuple[str, str, int], ...]) -> str:
    """'中央衔接资金 1000.00 + 天津援疆资金 500.00': which source paid how much of one line."""
    return " + ".join(f"{name or code} {format_yuan(fen)}" for code, name, fen in funds)


def export_statement(engine: Engine, actor: Actor, household_no: str, fmt: str) -> tuple[str, bytes] | None:
    """A household's statement: one row per payment, its fund sources as text and one column per fund
    (so a spreadsheet sums each source). None when the household is unknown or outside the scope."""
    _check_format(fmt)
    st = payments.household_statement(engine, actor, household_no)
    if st is None:
        return None
    funds = [(code, name) for code, name, _fen in st.by_fund]
    headers = ["paid_on 发放日期", "batch_no 批次号", "ref 业务流水号", "project_code 项目编号",
               "project_name 项目名称", "purpose 用途", "period 所属期", "item 物品", "status 状态", "amount 金额",
               "funds 资金来源"]
    headers += [f"{code} {name}" for code, name in funds]
    rows = []
    for line in st.lines[:MAX_EXPORT_ROWS]:
        by_code = {code: fen for code, _name, fen in line.funds}
        rows.append([line.paid_on, line.batch_no, line.ref, line.project_code, line.project_name,
                     payments.PURPOSE_NAMES_ZH.get(line.purpose, line.purpose), line.period or "", line.item or "",
                     payments.ROW_STATUS_NAMES_ZH.get(line.status, line.status), fen_to_yuan(line.amount_fen),
                     fund_sources_text(line.funds)]
                    + [fen_to_yuan(by_code[code]) if code in by_code else None for code, _name in funds])
    return _write(actor, engine, "household_statement", fmt, headers, rows, {"household_no": household_no})
