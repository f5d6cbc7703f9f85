"""The Beancount export of a generated journal passes the real `bean-check`, and its balances equal ours.

A few thousand synthetic entries are imported, then a reallocation, a fund re-designation and two
reversals are posted through the services; `huimin export beancount` (a subprocess) writes the
file, `bean-check` must accept it silently, and Beancount's own per-account and per-(account,
fund) totals must equal our trial balance to the fen, now and as of a date inside the year.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from ledger import services, synthetic
from ledger.money import fen_to_yuan
from ledger.permissions import SYSTEM

pytest.importorskip("beancount")
from beancount import loader  # noqa: E402
from beancount.core import data  # noqa: E402

ENTRIES = 3_000
SEED = 11
# Strings Beancount must get back intact: quotes, backslashes (one trailing), a line break, CJK.
AWKWARD_MEMO = '调整 "玫瑰花" 项目\\P0001 → P0002\nline two \\'


def bean_check_path() -> str:
    here = Path(sys.executable).parent / "bean-check"
    found = str(here) if here.exists() else shutil.which("bean-check")
    assert found, "bean-check not found: install the test extras (beancount)"
    return found


def huimin(db_url: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HUIMIN_DATABASE_URL": db_url, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([sys.executable, "-m", "ledger.cli", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, encoding="utf-8", timeout=300)


Totals = tuple[dict[str, Decimal], dict[tuple[str, str], Decimal]]


def bean_totals(entries: list, until: dt.date | None = None) -> Totals:
    """Per account and per (account, fund metadata) totals of Beancount's own parse, zeros dropped."""
    by_account: dict[str, Decimal] = defaultdict(Decimal)
    by_fund: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for e in entries:
        if not isinstance(e, data.Transaction) or (until is not None and e.date > until):
            continue
        for p in e.postings:
            assert p.units.currency == "CNY", p
            assert p.cost is None and p.price is None, p
            by_account[p.account] += p.units.number
            by_fund[(p.account, p.meta["fund"])] += p.units.number
    return ({k: v for k, v in by_account.items() if v != 0}, {k: v for k, v in by_fund.items() if v != 0})


def our_totals(rows) -> Totals:
    by_fund = {(r.account, r.fund): fen_to_yuan(r.balance_fen) for r in rows}
    by_account: dict[str, Decimal] = defaultdict(Decimal)
    for (account, _), v in by_fund.items():
        by_account[account] += v
    return {k: v for k, v in by_account.items() if v != 0}, by_fund


def test_export_passes_bean_check_and_balances_equal_trial_balance(db_url, engine, tmp_path):
    bean_check = bean_check_path()
    path = synthetic.write_journal(tmp_path / "journal.jsonl", ENTRIES, seed=SEED)
    report = services.import_journal(engine, SYSTEM, path, open_missing=True)
    assert report.ok, report.problems[:5]
    assert report.posted == ENTRIES

    # Every kind of correction a finance officer makes, through the use cases.
    realloc = services.reallocate(engine, SYSTEM, "realloc-1", "P0001", "P0002", "REGION", 123_456,
                                  dt.date(2025, 12, 20), AWKWARD_MEMO)
    services.redesignate(engine, SYSTEM, "redesignate-1", "Assets:Project:P0003", "COUNTY", "TJ-AID", 50_000,
                         dt.date(2025, 12, 21), "资金来源调整 COUNTY → TJ-AID")
    rev_pay = services.reverse_entry(engine, SYSTEM, ENTRIES, "rev-last-payment", dt.date(2025, 12, 30))
    rev_realloc = services.reverse_entry(engine, SYSTEM, realloc.seq, "rev-realloc", dt.date(2025, 12, 31))
    head = rev_realloc.seq
    assert head == ENTRIES + 4 and rev_pay.created
    assert services.verify_journal(engine, SYSTEM).ok

    out = tmp_path / "huimin.beancount"
    proc = huimin(db_url, "export", "beancount", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"{head:,} transactions" in proc.stdout

    check = subprocess.run([bean_check, str(out)], capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, check.stderr[:4000]
    assert check.stderr.strip() == "", check.stderr[:4000]

    entries, errors, _options = loader.load_file(str(out))
    assert errors == []
    txns = [e for e in entries if isinstance(e, data.Transaction)]
    assert sorted(t.meta["seq"] for t in txns) == list(range(1, head + 1))
    by_seq = {t.meta["seq"]: t for t in txns}
    assert by_seq[realloc.seq].narration == AWKWARD_MEMO.replace("\n", " ")
    assert by_seq[rev_realloc.seq].meta["reverses"] == realloc.seq
    assert by_seq[rev_pay.seq].meta["reverses"] == ENTRIES
    assert by_seq[1].meta["key"] == "rcv-CENTRAL"

    # Beancount's balances equal ours exactly: per account, and per (account, fund).
    bean_account, bean_fund = bean_totals(entries)
    ours_account, ours_fund = our_totals(services.trial_balance(engine, SYSTEM))
    assert bean_fund == ours_fund
    assert bean_account == ours_account
    assert sum(bean_account.values()) == 0
    assert ("Assets:Project:P0003", "TJ-AID") in ours_fund and ("Assets:Project:P0002", "REGION") not in ours_fund

    # ... and equal what `huimin report trial-balance --json` prints.
    proc = huimin(db_url, "report", "trial-balance", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    printed = {(r["account"], r["fund"]): Decimal(r["balance"]) for r in json.loads(proc.stdout)["rows"]}
    assert printed == bean_fund

    # As of a date inside the year, Beancount's running totals agree with our as-of trial balance.
    mid = dt.date(2025, 6, 30)
    bean_account, bean_fund = bean_totals(entries, until=mid)
    ours_account, ours_fund = our_totals(services.trial_balance(engine, SYSTEM, mid))
    assert bean_fund == ours_fund
    assert bean_account == ours_account
