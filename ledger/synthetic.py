"""A synthetic journal shaped like a county's year, for the demo, tests and benchmarks.

Deterministic for a seed. Yields JSON Lines entries (the `huimin journal import` format): fund
receipts into the pool, allocations to projects, then payments to households, about one in
thirteen split across two funds, so the average entry has about 2.15 postings.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator
from pathlib import Path

from ledger.money import format_yuan

FUNDS = (
    ("CENTRAL", "中央财政衔接推进乡村振兴补助资金", "central"),
    ("REGION", "自治区财政衔接资金", "region"),
    ("PREFECTURE", "地区财政衔接资金", "prefecture"),
    ("COUNTY", "县级财政衔接资金", "county"),
    ("TJ-AID", "天津市东西部协作资金", "partner_aid"),
)
INDUSTRIES = ("Rose", "Grape", "Vegetable", "Marigold", "Fungus", "Sheep", "Goose", "Pigeon", "Rabbit", "HotanSheep")


def journal_lines(entries: int, seed: int = 1, households: int | None = None, projects: int = 200,
                  year: int = 2025) -> Iterator[dict]:
    assert entries >= len(FUNDS) + 2 * projects + 1, "too few entries for the fixed receipts and allocations"
    rng = random.Random(seed)
    households = households or max(10, int(entries * 0.55))
    start = dt.date(year, 1, 2)
    funds = [f[0] for f in FUNDS]
    n = 0
    # Each fund's receipt is split over 2/5 of the project slots; a slot then holds 2.5x the most
    # its payments could draw, so the synthetic payments never hit the project limit.
    budget_fen = entries * 300_000
    for code in funds:
        n += 1
        yield {"key": f"rcv-{code}", "date": start.isoformat(), "kind": "fund_received", "memo": f"{code} 资金到位",
               "postings": [{"account": "Assets:Treasury:Pool", "fund": code, "amount": format_yuan(budget_fen)},
                            {"account": f"Income:Transfer:{code.replace('_', '-')}", "fund": code,
                             "amount": format_yuan(-budget_fen)}]}
    per_project = budget_fen * len(funds) // (projects * 2)
    for p in range(projects):
        for fund in (funds[p % len(funds)], funds[(p + 1) % len(funds)]):
            n += 1
            yield {"key": f"alloc-{p}-{fund}", "date": start.isoformat(), "kind": "allocation",
                   "memo": f"项目 P{p:04d} 资金安排",
                   "postings": [{"account": f"Assets:Project:P{p:04d}", "fund": fund,
                                 "amount": format_yuan(per_project)},
                                {"account": "Assets:Treasury:Pool", "fund": fund,
                                 "amount": format_yuan(-per_project)}]}
    while n < entries:
        n += 1
        p = rng.randrange(projects)
        hh = rng.randrange(households)
        day = start + dt.timedelta(days=rng.randrange(360))
        amount = rng.randrange(10_000, 300_000)
        industry = INDUSTRIES[p % len(INDUSTRIES)]
        f1, f2 = funds[p % len(funds)], funds[(p + 1) % len(funds)]
        party = f"H{hh:08d}"
        expense = f"Expenses:Household:{party}"
        if rng.random() < 0.075:
            a1 = amount // 2
            postings = [
                {"account": expense, "fund": f1, "amount": format_yuan(a1), "party": party},
                {"account": f"Assets:Project:P{p:04d}", "fund": f1, "amount": format_yuan(-a1)},
                {"account": expense, "fund": f2, "amount": format_yuan(amount - a1), "party": party},
                {"account": f"Assets:Project:P{p:04d}", "fund": f2, "amount": format_yuan(a1 - amount)},
            ]
        else:
            postings = [
                {"account": expense, "fund": f1, "amount": format_yuan(amount), "party": party},
                {"account": f"Assets:Project:P{p:04d}", "fund": f1, "amount": format_yuan(-amount)},
            ]
        yield {"key": f"pay-{seed}-{n}", "date": day.isoformat(), "kind": "subsidy_paid",
               "memo": f"{industry} 产业补助 {party}", "postings": postings}


def write_journal(path: Path, entries: int, seed: int = 1, **kw) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for obj in journal_lines(entries, seed, **kw):
            fh.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))
            fh.write("\n")
    return path
