"""Business events as balanced entries (DESIGN.md §4). Pure: values in, an EntryDraft out.

Each function names the accounts of one event; none touches the database. `Assets:Treasury:Pool`
is the county's integrated fund pool (统筹整合资金池); a project's money sits in
`Assets:Project:<code>` in the fund it came from, so every later payment can name its source.
"""

from __future__ import annotations

import datetime as dt
import re

from ledger.entries import EntryDraft, PostingDraft

POOL = "Assets:Treasury:Pool"
REDESIGNATION = "Equity:FundRedesignation"

_NON_COMPONENT = re.compile(r"[^A-Za-z0-9-]")


def component(code: str) -> str:
    """A project or fund code as one Beancount account component ('xm_2026/01' -> 'Xm-2026-01')."""
    text = _NON_COMPONENT.sub("-", code.strip())
    assert text, "empty code"
    if not text[0].isalpha():
        text = "C" + text
    return text[0].upper() + text[1:]


def project_account(project_code: str) -> str:
    return f"Assets:Project:{component(project_code)}"


def transfer_income_account(fund_code: str) -> str:
    return f"Income:Transfer:{component(fund_code)}"


def _positive(amount_fen: int) -> int:
    assert isinstance(amount_fen, int) and amount_fen > 0, "an event moves a positive amount"
    return amount_fen


def fund_received(key: str, fund: str, amount_fen: int, on: dt.date, memo: str = "",
                  maker_id: int | None = None) -> EntryDraft:
    """资金到位: the pool receives a transfer from a fund source."""
    x = _positive(amount_fen)
    return EntryDraft(key, on, "fund_received", memo, (
        PostingDraft(POOL, fund, x),
        PostingDraft(transfer_income_account(fund), fund, -x),
    ), maker_id=maker_id)


def allocation(key: str, project_code: str, fund: str, amount_fen: int, on: dt.date, memo: str = "",
               maker_id: int | None = None, checker_id: int | None = None) -> EntryDraft:
    """资金安排: the pool funds an approved project, in the fund the money came from."""
    x = _positive(amount_fen)
    return EntryDraft(key, on, "allocation", memo, (
        PostingDraft(project_account(project_code), fund, x),
        PostingDraft(POOL, fund, -x),
    ), maker_id=maker_id, checker_id=checker_id)


def reallocation(key: str, from_project: str, to_project: str, fund: str, amount_fen: int, on: dt.date,
                 memo: str = "", maker_id: int | None = None, checker_id: int | None = None) -> EntryDraft:
    """资金调整: money moves between projects and keeps its source."""
    assert from_project != to_project, "a reallocation moves money between two projects"
    x = _positive(amount_fen)
    return EntryDraft(key, on, "reallocation", memo, (
        PostingDraft(project_account(to_project), fund, x),
        PostingDraft(project_account(from_project), fund, -x),
    ), maker_id=maker_id, checker_id=checker_id)


def fund_redesignation(key: str, account: str, from_fund: str, to_fund: str, amount_fen: int, on: dt.date,
                       memo: str = "", maker_id: int | None = None, checker_id: int | None = None) -> EntryDraft:
    """Money held in `account` changes its recorded source.

    Every entry balances within each fund, so the change goes through an equity clearing account:
    it shows, per fund, how much was re-designated in and out. Nothing changes source silently.
    """
    assert from_fund != to_fund, "re-designation needs two different funds"
    x = _positive(amount_fen)
    return EntryDraft(key, on, "fund_redesignation", memo, (
        PostingDraft(account, to_fund, x),
        PostingDraft(REDESIGNATION, to_fund, -x),
        PostingDraft(REDESIGNATION, from_fund, x),
        PostingDraft(account, from_fund, -x),
    ), maker_id=maker_id, checker_id=checker_id)
