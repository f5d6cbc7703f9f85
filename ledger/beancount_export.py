"""Beancount export: one transaction per entry, the fund as posting metadata, accounts opened on
their `opened_on`. `bean-check` accepts the file and its balances equal our trial balance.
"""

from __future__ import annotations

from typing import TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.journal import ACCOUNT, ENTRY, FUND, POSTING
from ledger.money import format_yuan

CURRENCY = "CNY"
FETCH = 5_000


def _quote(text: str) -> str:
    # Beancount strings: double-quoted, backslash escapes; keep one line per field.
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", " ").replace("\n", " ") + '"'


def write_beancount(session: Session, out: TextIO) -> int:
    out.write(f'option "title" "Huimin Ledger 惠民账本"\noption "operating_currency" "{CURRENCY}"\n\n')
    fund_codes = dict(session.execute(select(FUND.c.id, FUND.c.code)).all())
    accounts = session.execute(
        select(ACCOUNT.c.id, ACCOUNT.c.code, ACCOUNT.c.opened_on, ACCOUNT.c.closed_on, ACCOUNT.c.name_zh)
        .order_by(ACCOUNT.c.opened_on, ACCOUNT.c.code)
    ).all()
    codes = {}
    for a in accounts:
        codes[a.id] = a.code
        out.write(f"{a.opened_on.isoformat()} open {a.code} {CURRENCY}\n")
        if a.name_zh and a.name_zh != a.code:
            out.write(f"  name: {_quote(a.name_zh)}\n")
    out.write("\n")

    postings = iter(session.execute(
        select(POSTING.c.entry_seq, POSTING.c.account_id, POSTING.c.fund_id, POSTING.c.amount_fen, POSTING.c.party)
        .order_by(POSTING.c.entry_seq, POSTING.c.id).execution_options(yield_per=FETCH)
    ))
    nxt = next(postings, None)
    n = 0
    # Beancount sorts by date itself; we write in seq order and keep seq as metadata.
    for e in session.execute(
        select(ENTRY.c.seq, ENTRY.c.effective_date, ENTRY.c.kind, ENTRY.c.memo, ENTRY.c.idempotency_key,
               ENTRY.c.reverses, ENTRY.c.hash)
        .where(ENTRY.c.status == "posted").order_by(ENTRY.c.seq).execution_options(yield_per=FETCH)
    ):
        out.write(f"{e.effective_date.isoformat()} * {_quote(e.kind)} {_quote(e.memo)}\n")
        out.write(f"  seq: {e.seq}\n  key: {_quote(e.idempotency_key)}\n  hash: {_quote(e.hash)}\n")
        if e.reverses is not None:
            out.write(f"  reverses: {e.reverses}\n")
        while nxt is not None and nxt.entry_seq < e.seq:
            nxt = next(postings, None)
        while nxt is not None and nxt.entry_seq == e.seq:
            out.write(f"  {codes[nxt.account_id]}  {format_yuan(int(nxt.amount_fen))} {CURRENCY}\n")
            out.write(f"    fund: {_quote(fund_codes[nxt.fund_id])}\n")
            if nxt.party:
                out.write(f"    party: {_quote(nxt.party)}\n")
            nxt = next(postings, None)
        out.write("\n")
        n += 1
    for a in accounts:
        if a.closed_on is not None:
            out.write(f"{a.closed_on.isoformat()} close {a.code}\n")
    return n
