"""Limits hold under concurrency (DESIGN.md §3, invariant 7).

Eight writers (threads, each unit of work on its own pooled connection) pay at once from ONE
limited project account whose allocation covers well under half of their demand. Each writer
retries some of its keys (same key, same payload), and all writers also race on a few shared keys,
as when a client times out and its retry lands on another server. Afterwards: the project balance
equals the allocation minus exactly what was accepted and never went below zero at any seq, every
refusal was a genuine overdraw, no key was posted twice, seq is gap-free and `verify` holds. A
reader verifying and summing balances all the while never sees an inconsistent snapshot.

PostgreSQL (row locks on the chain head and balance rows) and SQLite (BEGIN IMMEDIATE plus the
busy timeout: writers queue, none fails with "database is locked").
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from sqlalchemy import Engine, func, select

from ledger import journal, services
from ledger.chart import ensure_accounts
from ledger.db import make_engine, read_only, unit_of_work
from ledger.entries import EntryDraft, PostingDraft
from ledger.journal import ACCOUNT, BALANCE, ENTRY, POSTING, LedgerRefusal, Posted
from ledger.migrate import upgrade
from ledger.permissions import SYSTEM

WRITERS = 8
PAYMENTS_PER_WRITER = 30
SHARED_KEYS = 6  # every writer also posts these keys, with identical payloads
ALLOCATION_FEN = 1_000_000  # 10,000.00 yuan
FUND = "CENTRAL"
HOT = "Assets:Project:HOT"
ROSE = "Expenses:Subsidy:Rose"
DAY = dt.date(2026, 3, 2)


def payment(key: str, amount_fen: int) -> EntryDraft:
    party = f"H{sum(map(ord, key)) % 10**8:08d}"
    return EntryDraft(key, DAY, "subsidy_paid", f"玫瑰花 产业补助 {key}", (
        PostingDraft(ROSE, FUND, amount_fen, party),
        PostingDraft(HOT, FUND, -amount_fen),
    ))


def pay(engine: Engine, key: str, amount_fen: int) -> Posted | LedgerRefusal:
    try:
        with unit_of_work(engine) as s:
            [posted] = journal.post(s, [payment(key, amount_fen)])
        return posted
    except LedgerRefusal as exc:
        return exc


@dataclass
class Outcomes:
    """What one writer saw. `calls` is every (key, amount, result) in the order it happened."""

    calls: list[tuple[str, int, Posted | LedgerRefusal]] = field(default_factory=list)
    spans: list[tuple[float, float]] = field(default_factory=list)  # when each call was in flight
    errors: list[BaseException] = field(default_factory=list)

    def pay(self, engine: Engine, key: str, amount_fen: int) -> None:
        t0 = time.perf_counter()
        self.calls.append((key, amount_fen, pay(engine, key, amount_fen)))
        self.spans.append((t0, time.perf_counter()))


def set_up(engine: Engine) -> None:
    services.register_fund(engine, SYSTEM, FUND, "中央财政衔接资金", "central")
    services.receive_fund(engine, SYSTEM, "rcv-1", FUND, 3 * ALLOCATION_FEN, dt.date(2026, 3, 1))
    services.allocate(engine, SYSTEM, "alloc-HOT", "HOT", FUND, ALLOCATION_FEN, dt.date(2026, 3, 1))
    with unit_of_work(engine) as s:
        ensure_accounts(s, {ROSE: dt.date(2026, 3, 1)})


def shared_amount(j: int) -> int:
    return 4_000 + 1_000 * j


def writer(engine: Engine, i: int, start: threading.Barrier, out: Outcomes) -> None:
    rng = random.Random(1000 + i)
    plan = [(f"w{i}-p{j}", rng.randrange(5_000, 15_001)) for j in range(PAYMENTS_PER_WRITER)]
    plan += [(f"shared-{j}", shared_amount(j)) for j in range(SHARED_KEYS)]
    rng.shuffle(plan)
    start.wait()
    try:
        for key, amount in plan:
            out.pay(engine, key, amount)
            if rng.random() < 0.3:  # the client did not hear back and retries the same request
                out.pay(engine, key, amount)
        for key, amount in plan[:5]:  # and a late retry of a few, after everyone has moved on
            out.pay(engine, key, amount)
    except BaseException as exc:  # any other failure (deadlock, "database is locked") fails the test
        out.errors.append(exc)


def run_writers(engine: Engine, target: Callable[[Engine, int, threading.Barrier, Outcomes], None]) -> list[Outcomes]:
    start = threading.Barrier(WRITERS)
    outcomes = [Outcomes() for _ in range(WRITERS)]
    threads = [threading.Thread(target=target, args=(engine, i, start, outcomes[i]), name=f"writer-{i}")
               for i in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
        assert not t.is_alive(), f"{t.name} hung"
    return outcomes


def reader(engine: Engine, stop: threading.Event, seen: list[str]) -> None:
    """An inspector verifying, and a screen showing balances, while the officers post: each read is
    one consistent snapshot, so verify never raises a false alarm and the balances always add up."""
    try:
        while not stop.is_set():
            with read_only(engine) as s:
                result = journal.verify(s)
                rows = journal.trial_balance(s)
            hot = sum(r.balance_fen for r in rows if r.account == HOT)
            total = sum(r.balance_fen for r in rows)
            seen.append("ok" if result.ok and total == 0 and 0 <= hot <= ALLOCATION_FEN
                        else f"verify={result.message!r} total={total} hot={hot}")
    except BaseException as exc:  # reported, and failed on, in the main thread
        seen.append(repr(exc))


def race_and_check(engine: Engine) -> None:
    set_up(engine)
    stop, seen = threading.Event(), []
    watcher = threading.Thread(target=reader, args=(engine, stop, seen), name="reader")
    watcher.start()
    try:
        outcomes = run_writers(engine, writer)
    finally:
        stop.set()
        watcher.join(timeout=300)
    errors = [e for o in outcomes for e in o.errors]
    assert not errors, errors
    assert seen and set(seen) == {"ok"}, [x for x in seen if x != "ok"][:5]
    # The writers really were in flight at the same time (so some of them waited for a lock).
    spans = sorted((t0, t1, i) for i, o in enumerate(outcomes) for t0, t1 in o.spans)
    assert any(b0 < a1 and ai != bi for (_, a1, ai), (b0, _, bi) in zip(spans, spans[1:], strict=False))

    created: Counter[str] = Counter()
    seq_of: dict[str, set[int]] = defaultdict(set)
    amount_of: dict[str, int] = {}
    refused_amounts: list[int] = []
    first_result: dict[str, bool] = {}
    for o in outcomes:
        for key, amount, result in o.calls:
            assert amount_of.setdefault(key, amount) == amount
            if isinstance(result, Posted):
                assert result.key == key
                created[key] += result.created
                seq_of[key].add(result.seq)
                accepted = True
            else:
                # Every refusal is the limit, named on the project account: nothing else may go wrong.
                assert all(HOT in p.message and "below zero" in p.message for p in result.problems), result.problems
                refused_amounts.append(amount)
                accepted = False
            # Once accepted, a key's retries (by anyone) return the original; once refused, they stay
            # refused, because the balance only goes down.
            assert first_result.setdefault(key, accepted) == accepted, key

    accepted_keys = set(seq_of)
    assert all(n == 1 for n in created.values()), [k for k, n in created.items() if n > 1]
    assert set(k for k, n in created.items() if n) == accepted_keys  # each accepted key was created once
    assert all(len(seqs) == 1 for seqs in seq_of.values())  # and every retry got that same entry back
    spent = sum(amount_of[k] for k in accepted_keys)
    assert accepted_keys and refused_amounts, "demand must exceed the allocation for this test to mean anything"
    assert sum(amount_of.values()) > 2 * ALLOCATION_FEN  # total demand: about 2.4 times the allocation
    assert spent <= ALLOCATION_FEN

    with read_only(engine) as s:
        hot_id = s.execute(select(ACCOUNT.c.id).where(ACCOUNT.c.code == HOT)).scalar_one()
        balance = s.execute(select(BALANCE.c.balance_fen).where(BALANCE.c.account_id == hot_id)).scalar_one()
        seqs = list(s.execute(select(ENTRY.c.seq).order_by(ENTRY.c.seq)).scalars())
        paid = dict(s.execute(select(ENTRY.c.idempotency_key, ENTRY.c.seq).where(ENTRY.c.kind == "subsidy_paid")).all())
        movements = list(s.execute(select(POSTING.c.amount_fen).where(POSTING.c.account_id == hot_id)
                                   .order_by(POSTING.c.entry_seq)).scalars())
        total_entries = s.execute(select(func.count()).select_from(ENTRY)).scalar_one()

    assert balance == ALLOCATION_FEN - spent
    assert 0 <= balance < min(refused_amounts)  # every refusal really would have overdrawn
    running = 0
    for m in movements:  # replayed in seq order, the project never held less than nothing
        running += m
        assert running >= 0
    assert running == balance
    assert paid.keys() == accepted_keys  # nothing posted twice, nothing accepted and lost
    assert {k: {s} for k, s in paid.items()} == dict(seq_of)
    assert total_entries == 2 + len(accepted_keys)
    assert seqs == list(range(1, total_entries + 1))  # gap-free
    result = services.verify_journal(engine, SYSTEM)
    assert result.ok, result.message
    assert result.entries_checked == total_entries


def first_use_writer(engine: Engine, i: int, start: threading.Barrier, out: Outcomes) -> None:
    """Officers allocating to the same brand-new project at once: its account is opened exactly once."""
    start.wait()
    try:
        for j in range(3):
            posted = services.allocate(engine, SYSTEM, f"new-{i}-{j}", "NEWPROJ", FUND, 100, dt.date(2026, 3, 3))
            out.calls.append((posted.key, 100, posted))
    except BaseException as exc:  # reported, and failed on, in the main thread
        out.errors.append(exc)


def first_use_and_check(engine: Engine) -> None:
    services.register_fund(engine, SYSTEM, FUND, "中央财政衔接资金", "central")
    services.receive_fund(engine, SYSTEM, "rcv-1", FUND, ALLOCATION_FEN, dt.date(2026, 3, 1))
    outcomes = run_writers(engine, first_use_writer)
    errors = [e for o in outcomes for e in o.errors]
    assert not errors, errors
    assert all(r.created for o in outcomes for *_, r in o.calls)
    with read_only(engine) as s:
        assert s.execute(select(func.count()).select_from(ACCOUNT)
                         .where(ACCOUNT.c.code == "Assets:Project:NEWPROJ")).scalar_one() == 1
    rows = {(r.account, r.fund): r.balance_fen for r in services.trial_balance(engine, SYSTEM)}
    assert rows[("Assets:Project:NEWPROJ", FUND)] == WRITERS * 3 * 100
    assert services.verify_journal(engine, SYSTEM).ok


@pytest.fixture
def sqlite_engine(tmp_path):
    url = f"sqlite:///{tmp_path / 'race.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.mark.postgres
def test_concurrent_payments_from_one_project_postgres(pg_engine):
    race_and_check(pg_engine)


def test_concurrent_payments_from_one_project_sqlite(sqlite_engine):
    race_and_check(sqlite_engine)


@pytest.mark.postgres
def test_concurrent_first_use_of_an_account_postgres(pg_engine):
    first_use_and_check(pg_engine)


def test_concurrent_first_use_of_an_account_sqlite(sqlite_engine):
    first_use_and_check(sqlite_engine)


def _register_same_fund_at_once(engine: Engine, n: int = 8) -> tuple[int, list[str], list[BaseException]]:
    barrier = threading.Barrier(n)
    ok: list[int] = []
    refused: list[str] = []
    other: list[BaseException] = []

    def worker() -> None:
        barrier.wait()
        try:
            services.register_fund(engine, SYSTEM, "RACE", "同时登记的资金", "county")
            ok.append(1)
        except LedgerRefusal as exc:
            refused.append(exc.problems[0].message)
        except BaseException as exc:  # noqa: BLE001 - any other failure is what the test looks for
            other.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return len(ok), refused, other


@pytest.mark.parametrize("lane", ["postgres", "sqlite"])
def test_two_officers_registering_the_same_fund_get_one_fund_and_a_clean_refusal(lane, request):
    engine = request.getfixturevalue("pg_engine" if lane == "postgres" else "sqlite_engine")
    created, refused, other = _register_same_fund_at_once(engine)
    assert other == []
    assert created == 1
    assert refused == ["fund already registered"] * 7
    with read_only(engine) as s:
        assert s.execute(select(func.count()).select_from(journal.FUND).where(journal.FUND.c.code == "RACE")
                         ).scalar_one() == 1
