"""The chart of accounts and the fund register: opening accounts and funds, in bulk when needed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from sqlalchemy import Table, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from ledger import bulk
from ledger.entries import account_type, default_limit
from ledger.models import Account, Fund, utcnow

ACCOUNT = Account.__table__
FUND = Fund.__table__

# Readable names for the accounts flows open, by prefix; the rest of the code is appended.
_PREFIX_NAMES: tuple[tuple[str, str, str], ...] = (
    ("Assets:Treasury:Pool", "统筹整合资金池", "Integrated fund pool"),
    ("Assets:Project:", "项目资金 ", "Project funds "),
    ("Assets:Advance:", "预付实施主体 ", "Advance to implementer "),
    ("Assets:RiskFund:", "风险补偿金 ", "Risk compensation fund "),
    ("Assets:Bank:", "贷款银行 ", "Lending bank "),
    ("Assets:Loan:", "贷款本金 ", "Loan principal "),
    ("Assets:Interest:", "应收利息 ", "Interest receivable "),
    ("Income:Transfer:", "上级转移收入 ", "Transfer received "),
    ("Income:Interest:", "利息收入 ", "Interest income "),
    ("Income:Recovery", "追回资金", "Recoveries"),
    ("Equity:FundRedesignation", "资金来源调整", "Fund re-designation"),
    ("Expenses:Subsidy:", "产业补助 ", "Subsidy "),
    ("Expenses:Wage:", "公益岗位工资 ", "Welfare-post wage "),
    ("Expenses:InKind:", "实物补助 ", "In-kind aid "),
)


def default_names(code: str) -> tuple[str, str]:
    for prefix, zh, en in _PREFIX_NAMES:
        if code == prefix or code.startswith(prefix):
            rest = code[len(prefix):]
            return (zh + rest).strip(), (en + rest).strip()
    return code, code


def _insert_new(session: Session, table: Table, rows: list[dict]) -> int:
    """Insert accounts found missing a moment ago. On PostgreSQL another transaction may be opening
    the same code right now (two officers paying into a new project at once): the loser waits for
    the winner and then uses its row instead of failing on the unique code. Rows go in sorted code
    order, so two openers cannot deadlock. SQLite needs none of this: BEGIN IMMEDIATE already
    serialises writers. Returns how many rows this transaction inserted."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        stmt = pg_insert(table).on_conflict_do_nothing(index_elements=[table.c.code]).returning(table.c.code)
        return len(conn.execute(stmt, rows).all())
    bulk.insert_dicts(conn, table, rows)  # an import may open tens of thousands at once
    return len(rows)


def _codes_by_code():
    return select(ACCOUNT.c.code).where(ACCOUNT.c.code.in_(bulk.in_params(ACCOUNT.c.code))), {}


def ensure_accounts(session: Session, first_use: Mapping[str, dt.date]) -> int:
    """Open every account in `first_use` that does not exist yet, opened on its first use.

    Returns how many were opened. Type comes from the root, the limit from DESIGN.md §4.
    """
    codes = sorted(first_use)
    existing = {code for (code,) in bulk.rows_in(session.connection(), "account.code_by_code", _codes_by_code, codes)}
    rows = []
    for code in codes:
        if code in existing:
            continue
        zh, en = default_names(code)
        rows.append({"code": code, "type": account_type(code), "name_zh": zh, "name_en": en,
                     "opened_on": first_use[code], "closed_on": None, "limit_kind": default_limit(code),
                     "party_kind": None, "party_ref": None})
    return _insert_new(session, ACCOUNT, rows) if rows else 0


def ensure_funds(session: Session, codes: Mapping[str, tuple[str, str, str | None]]) -> int:
    """Register every fund in `codes` (code -> (name, kind, document_no)) that does not exist yet."""
    wanted = sorted(codes)
    existing = set(session.execute(select(FUND.c.code).where(FUND.c.code.in_(wanted))).scalars()) if wanted else set()
    rows = [{"code": c, "name": codes[c][0], "kind": codes[c][1], "document_no": codes[c][2], "created_at": utcnow()}
            for c in wanted if c not in existing]
    return _insert_new(session, FUND, rows) if rows else 0
