"""Pure report arithmetic for screens and the API: totals and debit/credit columns.

Templates never compute money (DESIGN.md §2); whatever a page shows beyond a stored amount is
computed here, from values, in integer fen, and tested without a database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


def split_debit_credit(amount_fen: int) -> tuple[int | None, int | None]:
    """A signed (debit-positive) amount as the two columns an officer reads: (debit, credit).

    The credit column holds the positive amount; the empty column is None, not zero.
    """
    assert isinstance(amount_fen, int) and not isinstance(amount_fen, bool)
    if amount_fen > 0:
        return amount_fen, None
    if amount_fen < 0:
        return None, -amount_fen
    return None, None


@dataclass(frozen=True, slots=True)
class FundTotal:
    fund: str
    debit_fen: int  # sum of the positive balances (or amounts) in this fund
    credit_fen: int  # sum of the negative ones, as a positive number
    rows: int

    @property
    def net_fen(self) -> int:
        return self.debit_fen - self.credit_fen

    @property
    def balanced(self) -> bool:
        return self.debit_fen == self.credit_fen


@dataclass(frozen=True, slots=True)
class Totals:
    by_fund: list[FundTotal]
    debit_fen: int
    credit_fen: int

    @property
    def net_fen(self) -> int:
        return self.debit_fen - self.credit_fen

    @property
    def balanced(self) -> bool:
        return self.debit_fen == self.credit_fen


def fund_totals(pairs: Iterable[tuple[str, int]]) -> Totals:
    """Debit and credit totals per fund (sorted by fund code) and overall, from (fund, amount_fen)."""
    debit: dict[str, int] = {}
    credit: dict[str, int] = {}
    count: dict[str, int] = {}
    for fund, amount in pairs:
        assert isinstance(amount, int) and not isinstance(amount, bool)
        count[fund] = count.get(fund, 0) + 1
        debit.setdefault(fund, 0)
        credit.setdefault(fund, 0)
        if amount > 0:
            debit[fund] += amount
        else:
            credit[fund] -= amount
    by_fund = [FundTotal(f, debit[f], credit[f], count[f]) for f in sorted(count)]
    return Totals(by_fund, sum(debit.values()), sum(credit.values()))


def trial_balance_totals(rows: Iterable) -> Totals:
    """Per-fund debit and credit totals of trial-balance rows (anything with .fund and .balance_fen).

    Each fund balances on its own (DESIGN.md §3, invariant 1), so every FundTotal is balanced
    when the ledger is sound.
    """
    return fund_totals((r.fund, r.balance_fen) for r in rows)


def entry_totals(postings: Iterable) -> Totals:
    """Per-fund debit and credit totals of an entry's postings (anything with .fund and .amount_fen)."""
    return fund_totals((p.fund, p.amount_fen) for p in postings)


@dataclass(frozen=True, slots=True)
class SourceTotals:
    received_fen: int
    allocated_fen: int
    in_pool_fen: int


def fund_source_totals(sources: Iterable) -> SourceTotals:
    """The county's totals over its fund sources (each with received_fen, allocated_fen, in_pool_fen)."""
    received = allocated = in_pool = 0
    for f in sources:
        received += f.received_fen
        allocated += f.allocated_fen
        in_pool += f.in_pool_fen
    assert received == allocated + in_pool
    return SourceTotals(received, allocated, in_pool)
