"""Property-based: random sequences of business events keep every invariant of DESIGN.md §3.

Hypothesis drives receive / allocate / reallocate / redesignate / reverse, plus retries (same key,
same payload) and conflicting retries (same key, different payload), on both database lanes. The
`engine` fixture lives for the whole test, so every example works in its own namespace of funds,
projects and keys, and compares the ledger only on its own funds.

The test keeps an independent model: balances per (account, fund), the postings of every accepted
entry, which entries reverse which, and when each account was first used. The model predicts, for
every operation, whether the journal must accept it, return the original (retry) or refuse it (key
conflict, overdraw of a limited account, reversal rules, account not open yet on that date); the
ledger must agree, and a refused operation must change nothing.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import bindparam, text

from ledger import services
from ledger.chart import ensure_accounts
from ledger.db import unit_of_work
from ledger.journal import LedgerRefusal
from ledger.permissions import SYSTEM

POOL = "Assets:Treasury:Pool"
EQUITY = "Equity:FundRedesignation"
LIMITED = ("Assets:Treasury:", "Assets:Project:", "Assets:Advance:", "Assets:RiskFund:")
OPENED = dt.date(2026, 1, 1)
BASE_DAY = dt.date(2026, 3, 1)
FAR_SEQ = 10**6  # an entry that does not exist

_namespaces = itertools.count()

Op = tuple  # (kind, key, day, *args)


@dataclass
class Model:
    balances: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    entries: dict[int, list[tuple[str, str, int]]] = field(default_factory=dict)
    reversal_of: dict[int, int] = field(default_factory=dict)  # reversal seq -> reversed seq
    reversed_by: dict[int, int] = field(default_factory=dict)  # reversed seq -> reversal seq
    keys: dict[str, tuple[Op, int]] = field(default_factory=dict)  # accepted key -> (op, seq)
    opened: dict[str, dt.date] = field(default_factory=lambda: {POOL: OPENED, EQUITY: OPENED})
    history: list[Op] = field(default_factory=list)

    def postings(self, op: Op) -> list[tuple[str, str, int]] | None:
        """The entry §4 says this operation posts, worked out by hand (not by ledger.flows)."""
        kind = op[0]
        if kind == "receive":
            _, _, _, fund, x = op
            return [(POOL, fund, x), (f"Income:Transfer:{fund}", fund, -x)]
        if kind == "allocate":
            _, _, _, project, fund, x = op
            return [(f"Assets:Project:{project}", fund, x), (POOL, fund, -x)]
        if kind == "reallocate":
            _, _, _, src, dst, fund, x = op
            return [(f"Assets:Project:{dst}", fund, x), (f"Assets:Project:{src}", fund, -x)]
        if kind == "redesignate":
            _, _, _, account, src, dst, x = op
            return [(account, dst, x), (EQUITY, dst, -x), (EQUITY, src, x), (account, src, -x)]
        assert kind == "reverse"
        target = op[3]
        if target not in self.entries or target in self.reversal_of or target in self.reversed_by:
            return None  # no such entry / a reversal cannot be reversed / already reversed
        return [(a, f, -x) for a, f, x in self.entries[target]]

    def predict(self, op: Op) -> tuple[str, int | None]:
        key, day = op[1], op[2]
        if key in self.keys:
            prior, seq = self.keys[key]
            return ("same", seq) if prior == op else ("conflict", seq)
        postings = self.postings(op)
        if postings is None:
            return "refused", None
        if any(self.opened.get(a, day) > day for a, _, _ in postings):
            return "refused", None  # the account opened after this date
        after = dict(self.balances)
        for a, f, x in postings:
            after[(a, f)] = after.get((a, f), 0) + x
            if a.startswith(LIMITED) and after[(a, f)] < 0:
                return "refused", None
        return "accepted", None

    def apply(self, op: Op, seq: int) -> None:
        postings = self.postings(op)
        assert postings is not None
        for a, f, x in postings:
            self.balances[(a, f)] += x
            self.opened.setdefault(a, op[2])
        self.entries[seq] = postings
        self.keys[op[1]] = (op, seq)
        if op[0] == "reverse":
            self.reversal_of[seq] = op[3]
            self.reversed_by[op[3]] = seq


def execute(engine, op: Op):
    kind, key, day, *args = op
    if kind == "receive":
        return services.receive_fund(engine, SYSTEM, key, args[0], args[1], day)
    if kind == "allocate":
        return services.allocate(engine, SYSTEM, key, args[0], args[1], args[2], day)
    if kind == "reallocate":
        return services.reallocate(engine, SYSTEM, key, args[0], args[1], args[2], args[3], day)
    if kind == "redesignate":
        return services.redesignate(engine, SYSTEM, key, args[0], args[1], args[2], args[3], day)
    return services.reverse_entry(engine, SYSTEM, args[0], key, day)


def head_seq(engine) -> int:
    with engine.connect() as c:
        return int(c.execute(text("SELECT seq FROM journal_head")).scalar_one())


@pytest.fixture
def books(engine):
    """The shared accounts open early, so every example may use them from its first day."""
    with unit_of_work(engine) as s:
        ensure_accounts(s, {POOL: OPENED, EQUITY: OPENED})
    return engine


amounts = st.one_of(st.integers(1, 2_000), st.integers(1, 120_000))
KINDS = ["receive", "receive", "allocate", "allocate", "reallocate", "reallocate", "redesignate", "reverse", "reverse",
         "retry", "conflict"]


def amount_for(available: int) -> st.SearchStrategy[int]:
    """Mostly what the account can afford, sometimes anything (an overdraw the ledger must refuse)."""
    if available <= 0:
        return amounts
    return st.one_of(st.integers(1, available), st.just(available), st.just(available + 1), amounts)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_flows_keep_every_invariant(books, data):
    engine = books
    ns = f"X{next(_namespaces)}"
    funds = [f"{ns}-A", f"{ns}-B"]
    projects = [f"{ns}p1", f"{ns}p2", f"{ns}p3"]
    for f in funds:
        services.register_fund(engine, SYSTEM, f, f, "central")
    model = Model()
    counter = itertools.count()

    steps = data.draw(st.integers(3, 25), label="steps")
    event(f"steps {steps // 5 * 5}+")
    for step in range(steps):
        day = BASE_DAY + dt.timedelta(days=step)
        key = f"{ns}-k{next(counter)}"
        kind = data.draw(st.sampled_from(KINDS), label="kind")
        accepted_ops = [op for op, _ in model.keys.values()]
        if kind == "retry" and model.history:
            op = data.draw(st.sampled_from(model.history), label="retry")
        elif kind == "conflict" and accepted_ops:
            prior = data.draw(st.sampled_from(accepted_ops), label="conflict")
            # Same key, a different payload: one fen more, or (a reversal) another date.
            op = (*prior[:-1], prior[-1] + 1) if prior[0] != "reverse" else (*prior[:2], prior[2] + dt.timedelta(1),
                                                                             prior[3])
        elif kind == "allocate":
            fund = data.draw(st.sampled_from(funds))
            op = ("allocate", key, day, data.draw(st.sampled_from(projects)), fund,
                  data.draw(amount_for(model.balances[(POOL, fund)])))
        elif kind == "reallocate":
            fund = data.draw(st.sampled_from(funds))
            # Usually from a project that holds money in that fund, when there is one.
            holding = [p for p in projects if model.balances[(f"Assets:Project:{p}", fund)] > 0]
            src = data.draw(st.sampled_from(holding or projects) | st.sampled_from(projects))
            dst = data.draw(st.sampled_from([p for p in projects if p != src]))
            op = ("reallocate", key, day, src, dst, fund,
                  data.draw(amount_for(model.balances[(f"Assets:Project:{src}", fund)])))
        elif kind == "redesignate":
            account = data.draw(st.sampled_from([POOL] + [f"Assets:Project:{p}" for p in projects]))
            src, dst = data.draw(st.permutations(funds))
            op = ("redesignate", key, day, account, src, dst, data.draw(amount_for(model.balances[(account, src)])))
        elif kind == "reverse" and model.entries:
            op = ("reverse", key, day, data.draw(st.sampled_from(sorted(model.entries) + [FAR_SEQ])))
        else:
            op = ("receive", key, day, data.draw(st.sampled_from(funds)), data.draw(amounts))

        expect, seq = model.predict(op)
        event(f"{kind} -> {op[0]} {expect}")  # --hypothesis-show-statistics shows the mix
        before = head_seq(engine)
        try:
            posted = execute(engine, op)
        except LedgerRefusal as exc:
            assert expect in ("refused", "conflict"), f"{op} refused: {exc}"
            if expect == "conflict":
                assert "different payload" in str(exc)
            assert head_seq(engine) == before, "a refused operation wrote something"
        else:
            assert expect in ("accepted", "same"), f"{op} was accepted, the model expected {expect}"
            if expect == "same":
                assert (posted.seq, posted.created) == (seq, False)
                assert head_seq(engine) == before
            else:
                assert posted.created and posted.seq == before + 1
                model.apply(op, posted.seq)
        model.history.append(op)

    check_ledger(engine, model, funds)


def check_ledger(engine, model: Model, funds: list[str]) -> None:
    result = services.verify_journal(engine, SYSTEM)
    assert result.ok, result.message

    rows = services.trial_balance(engine, SYSTEM)
    per_fund: dict[str, int] = defaultdict(int)
    for r in rows:
        per_fund[r.fund] += r.balance_fen
        if r.account.startswith(("Assets:Project:", "Assets:Treasury:Pool")):
            assert r.balance_fen >= 0, r
    assert all(total == 0 for total in per_fund.values()), per_fund

    mine = {(r.account, r.fund): r.balance_fen for r in rows if r.fund in funds}
    assert mine == {k: v for k, v in model.balances.items() if v != 0}

    with engine.connect() as c:
        links = c.execute(text("SELECT seq, reverses FROM entry WHERE reverses IS NOT NULL")).all()
        reversal_seqs = {int(s) for s, _ in links}
        targets = Counter(int(t) for _, t in links)
        assert all(n == 1 for n in targets.values()), "an entry was reversed more than once"
        assert not reversal_seqs & set(targets), "a reversal was reversed"
        assert {int(t): int(s) for s, t in links if int(s) in model.entries} == model.reversed_by
        if model.entries:
            stored = c.execute(
                text("SELECT p.entry_seq, a.code, f.code, p.amount_fen FROM posting p "
                     "JOIN account a ON a.id = p.account_id JOIN fund f ON f.id = p.fund_id "
                     "WHERE p.entry_seq IN :seqs ORDER BY p.entry_seq, p.id").bindparams(
                    bindparam("seqs", expanding=True)),
                {"seqs": sorted(model.entries)},
            ).all()
    got: dict[int, list[tuple[str, str, int]]] = defaultdict(list)
    for seq, account, fund, amount in stored if model.entries else []:
        got[int(seq)].append((account, fund, int(amount)))
    assert dict(got) == model.entries
