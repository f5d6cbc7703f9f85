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
                  maker_id: int | None = None, checker_id: int | None = None) -> EntryDraft:
    """资金到位: the pool receives a transfer from a fund source."""
    x = _positive(amount_fen)
    return EntryDraft(key, on, "fund_received", memo, (
        PostingDraft(POOL, fund, x),
        PostingDraft(transfer_income_account(fund), fund, -x),
    ), maker_id=maker_id, checker_id=checker_id)


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


# ---------------------------------------------------------------------------------------------
# Payments (DESIGN.md §4): one entry per payee, split by fund. `splits` is (fund, amount_fen) in the
# order the money is taken (ledger.payments.split_by_fund); each fund's pair of postings balances.

PAYMENT_KINDS = {"subsidy": "subsidy_paid", "wage": "wage_paid", "advance": "advance_paid",
                 "in_kind": "in_kind_delivered"}


def advance_account(project_code: str) -> str:
    """What the project's implementer (enterprise or co-operative) holds of the project's money and has
    not yet delivered. One per project, because a project has one implementer and its deliveries
    must be traceable to the project's funds."""
    return f"Assets:Advance:{component(project_code)}"


def expense_account(purpose: str, detail: str) -> str:
    """Expenses:Subsidy:<industry>, Expenses:Wage:<post type>, Expenses:InKind:<industry>."""
    root = {"subsidy": "Subsidy", "wage": "Wage", "in_kind": "InKind"}[purpose]
    return f"Expenses:{root}:{component(detail)}"


def payment(key: str, purpose: str, debit_account: str, credit_account: str, splits: tuple[tuple[str, int], ...],
            on: dt.date, memo: str = "", party: str | None = None, maker_id: int | None = None,
            checker_id: int | None = None) -> EntryDraft:
    """发放: money leaves `credit_account` (the project, or the implementer's advance) for the payee.

    The household is the posting's party on the debit side, so a household statement is an index
    look-up, and every fen names the fund it came from."""
    assert splits, "a payment takes money from at least one fund"
    postings: list[PostingDraft] = []
    for fund, amount_fen in splits:
        x = _positive(amount_fen)
        postings.append(PostingDraft(debit_account, fund, x, party))
        postings.append(PostingDraft(credit_account, fund, -x))
    return EntryDraft(key, on, PAYMENT_KINDS[purpose], memo, tuple(postings), maker_id=maker_id,
                      checker_id=checker_id)
