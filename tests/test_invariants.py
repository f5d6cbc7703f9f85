"""The ledger invariants of DESIGN.md §3, one group per invariant, on every database lane.

Each test takes the `engine` fixture, so it runs on SQLite and (with HUIMIN_TEST_POSTGRES_URL) on
PostgreSQL. "Going around the app" means raw SQL (`text()` with bound parameters) on a connection,
exactly what a careless script or a DBA could do; the database itself must refuse.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import subprocess
import threading
from collections import defaultdict

import pytest
from sqlalchemy import BigInteger, Date, DateTime, bindparam, inspect, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from ledger import journal, services
from ledger.db import unit_of_work
from ledger.entries import EntryDraft, PostingDraft, entry_hash, reversal_of
from ledger.imports.journal_lines import parse_line
from ledger.journal import LedgerRefusal
from ledger.models import GENESIS_HASH
from ledger.permissions import SYSTEM
from tests.helpers import huimin_cmd

D0 = dt.date(2026, 1, 5)
POOL = "Assets:Treasury:Pool"

# --------------------------------------------------------------------------------------------
# Helpers: raw SQL, state snapshots

RAW_ENTRY = text(
    "INSERT INTO entry (seq, effective_date, recorded_at, kind, memo, idempotency_key, payload_hash, reverses, "
    "maker_id, checker_id, status, prev_hash, hash) VALUES (:seq, :d, :r, :kind, '', :key, :ph, :rev, NULL, NULL, "
    ":status, :prev, :hash)"
).bindparams(bindparam("d", type_=Date), bindparam("r", type_=DateTime))
RAW_POSTING = text(
    "INSERT INTO posting (entry_seq, account_id, fund_id, amount_fen, party, effective_date) "
    "VALUES (:seq, :a, :f, :amt, NULL, :d)"
).bindparams(bindparam("d", type_=Date))
RAW_SEAL = text("UPDATE entry SET status = 'posted' WHERE seq = :seq")


def raw_entry(conn, seq: int, day: dt.date, postings: list[tuple[int, int, int]], *, reverses: int | None = None,
              kind: str = "migrated", status: str = "pending") -> None:
    """Insert an entry and its postings the way `journal.post` does, but with no checks of ours."""
    tag = f"raw-{seq}-{day.isoformat()}-{reverses}-{status}"
    conn.execute(RAW_ENTRY, {
        "seq": seq, "d": day, "r": dt.datetime(2026, 6, 1, 12, 0, 0), "kind": kind, "key": tag, "ph": "0" * 64,
        "rev": reverses, "status": status, "prev": "0" * 64, "hash": (tag.encode().hex() + "f" * 64)[:64],
    })
    if postings:
        conn.execute(RAW_POSTING, [{"seq": seq, "a": a, "f": f, "amt": amt, "d": day} for a, f, amt in postings])


def account_id(engine, code: str) -> int:
    with engine.connect() as c:
        return int(c.execute(text("SELECT id FROM account WHERE code = :c"), {"c": code}).scalar_one())


def fund_id(engine, code: str) -> int:
    with engine.connect() as c:
        return int(c.execute(text("SELECT id FROM fund WHERE code = :c"), {"c": code}).scalar_one())


def head(engine) -> tuple[int, str]:
    with engine.connect() as c:
        seq, h = c.execute(text("SELECT seq, hash FROM journal_head WHERE id = 1")).one()
    return int(seq), h


def snapshot(engine) -> dict:
    """Everything a refused operation must leave untouched."""
    with engine.connect() as c:
        return {
            "head": tuple(c.execute(text("SELECT seq, hash FROM journal_head")).one()),
            "entries": c.execute(text("SELECT seq, status, hash FROM entry ORDER BY seq")).all(),
            "postings": c.execute(text("SELECT id, entry_seq, account_id, fund_id, amount_fen FROM posting "
                                       "ORDER BY id")).all(),
            "balances": c.execute(text("SELECT account_id, fund_id, balance_fen, version, last_seq FROM balance "
                                       "ORDER BY account_id, fund_id")).all(),
            "accounts": c.execute(text("SELECT id, code FROM account ORDER BY id")).all(),
            "audit": c.execute(text("SELECT COUNT(*) FROM audit_log")).scalar_one(),
            "periods": c.execute(text("SELECT month FROM period_close ORDER BY month")).all(),
        }


def tb(engine, as_of: dt.date | None = None) -> dict[tuple[str, str], int]:
    return {(r.account, r.fund): r.balance_fen for r in services.trial_balance(engine, SYSTEM, as_of)}


def assert_db_refuses(engine, work, *, match: str | None = "huimin", exc_type=DBAPIError) -> str:
    """Run `work(conn)` in one transaction; the database must abort it and nothing may change."""
    before = snapshot(engine)
    with pytest.raises(exc_type) as info:
        with engine.begin() as conn:
            work(conn)
    message = str(info.value)
    if match is not None:
        assert match in message, message
    assert snapshot(engine) == before
    return message


def refusal(exc: pytest.ExceptionInfo) -> str:
    return "; ".join(p.message + " [" + p.value + "]" for p in exc.value.problems)


def funded(engine, *, fund: str = "CENTRAL", amount: int = 100_000, on: dt.date = D0) -> None:
    """A fund registered and received into the pool."""
    services.register_fund(engine, SYSTEM, fund, fund, "central")
    services.receive_fund(engine, SYSTEM, f"recv-{fund}", fund, amount, on)


def run_cli(db_url: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, HUIMIN_DATABASE_URL=db_url)
    return subprocess.run([*huimin_cmd(), *args], env=env, capture_output=True, text=True, timeout=120)


# ============================================================================================
# Invariant 1: every entry balances within each fund


def _post_draft(engine, draft: EntryDraft) -> list[journal.Posted]:
    with unit_of_work(engine) as s:
        return journal.post(s, [draft])


def test_inv1_unbalanced_entry_is_refused_by_journal_post(engine):
    funded(engine)
    before = snapshot(engine)
    draft = EntryDraft("unbalanced", D0, "allocation", "", (
        PostingDraft("Assets:Project:P1", "CENTRAL", 1000), PostingDraft(POOL, "CENTRAL", -999)))
    with pytest.raises(LedgerRefusal) as exc:
        _post_draft(engine, draft)
    assert "postings in fund CENTRAL sum to 0.01" in refusal(exc)
    assert snapshot(engine) == before


def test_inv1_entry_balanced_in_total_but_not_per_fund_is_refused(engine):
    funded(engine, fund="CENTRAL")
    funded(engine, fund="TIANJIN")
    before = snapshot(engine)
    # +10 yuan of Tianjin money and −10 yuan of central money: zero in total, a silent change of source.
    draft = EntryDraft("swap", D0, "reallocation", "", (
        PostingDraft(POOL, "TIANJIN", 1000), PostingDraft(POOL, "CENTRAL", -1000)))
    with pytest.raises(LedgerRefusal) as exc:
        _post_draft(engine, draft)
    msg = refusal(exc)
    assert "fund CENTRAL sum to -10.00" in msg and "fund TIANJIN sum to 10.00" in msg
    assert snapshot(engine) == before


def test_inv1_database_seal_refuses_unbalanced_entries(engine):
    funded(engine, fund="CENTRAL")
    funded(engine, fund="TIANJIN")
    pool, income = account_id(engine, POOL), account_id(engine, "Income:Transfer:CENTRAL")
    central, tianjin = fund_id(engine, "CENTRAL"), fund_id(engine, "TIANJIN")
    seq = head(engine)[0] + 1

    def unbalanced(conn):
        raw_entry(conn, seq, D0, [(pool, central, 1000), (income, central, -999)])
        conn.execute(RAW_SEAL, {"seq": seq})

    def balanced_in_total_only(conn):
        raw_entry(conn, seq, D0, [(pool, central, 1000), (pool, tianjin, -1000)])
        conn.execute(RAW_SEAL, {"seq": seq})

    def single_posting(conn):
        raw_entry(conn, seq, D0, [(pool, central, 1000)])
        conn.execute(RAW_SEAL, {"seq": seq})

    for work in (unbalanced, balanced_in_total_only, single_posting):
        assert "balance within each fund" in assert_db_refuses(engine, work)

    # The control: the same raw path with a balanced entry seals, so the refusals above were the balance check.
    with engine.connect() as conn:
        tx = conn.begin()
        raw_entry(conn, seq, D0, [(pool, central, 1000), (income, central, -1000)])
        assert conn.execute(RAW_SEAL, {"seq": seq}).rowcount == 1
        tx.rollback()


# ============================================================================================
# Invariant 2: posted entries and postings are immutable; corrections are reversals, at most one


@pytest.fixture
def posted(engine):
    """Two posted entries: 1 = fund received, 2 = allocation to P1."""
    funded(engine)
    services.allocate(engine, SYSTEM, "alloc-1", "P1", "CENTRAL", 60_000, D0)
    return engine


RAW_CHANGES = {
    "update posting amount": "UPDATE posting SET amount_fen = amount_fen * 2 WHERE entry_seq = 2",
    "update posting account": "UPDATE posting SET account_id = (SELECT MIN(id) FROM account) WHERE entry_seq = 2",
    "update posting date": "UPDATE posting SET effective_date = effective_date WHERE entry_seq = 2",
    "delete posting": "DELETE FROM posting WHERE entry_seq = 2",
    "delete all postings": "DELETE FROM posting",
    "update entry memo": "UPDATE entry SET memo = 'changed' WHERE seq = 2",
    "update entry key": "UPDATE entry SET idempotency_key = 'other' WHERE seq = 2",
    "update entry hash": "UPDATE entry SET hash = prev_hash WHERE seq = 2",
    "unseal entry": "UPDATE entry SET status = 'pending' WHERE seq = 2",
    "delete entry": "DELETE FROM entry WHERE seq = 2",
    "add posting to posted entry": (
        "INSERT INTO posting (entry_seq, account_id, fund_id, amount_fen, party, effective_date) "
        "SELECT entry_seq, account_id, fund_id, amount_fen, party, effective_date FROM posting WHERE entry_seq = 2"
    ),
}


def test_inv2_database_refuses_changing_posted_history(posted):
    for change, sql in RAW_CHANGES.items():
        try:
            assert_db_refuses(posted, lambda conn, sql=sql: conn.execute(text(sql)))
        except BaseException as exc:  # pytest's "DID NOT RAISE" is not an Exception
            raise AssertionError(f"the database let this through: {change}") from exc
    assert services.verify_journal(posted, SYSTEM).ok


def test_inv2_postgres_refuses_truncate(posted):
    if posted.dialect.name != "postgresql":
        pytest.skip("TRUNCATE exists on PostgreSQL only")
    for table in ("posting", "entry", "audit_log", "period_close"):
        assert_db_refuses(posted, lambda conn, t=table: conn.execute(text(f"TRUNCATE {t} CASCADE")))


def test_inv2_reversal_posts_negated_postings_linked_to_the_original(posted):
    before_tb = tb(posted)
    r = services.reverse_entry(posted, SYSTEM, 2, "rev-2", D0 + dt.timedelta(days=1))
    assert r.created and r.seq == 3
    with posted.connect() as c:
        kind, reverses = c.execute(text("SELECT kind, reverses FROM entry WHERE seq = 3")).one()
    assert (kind, reverses) == ("reversal", 2)
    with posted.connect() as c:
        with Session(bind=c) as s:
            original = journal.entry_postings(s, 2)
            reversal = journal.entry_postings(s, 3)
    assert [(p.account, p.fund, -p.amount_fen) for p in original] == [(p.account, p.fund, p.amount_fen)
                                                                     for p in reversal]
    after = tb(posted)
    assert after[(POOL, "CENTRAL")] == 100_000 and ("Assets:Project:P1", "CENTRAL") not in after
    assert before_tb[(POOL, "CENTRAL")] == 40_000
    # The original stays exactly as it was.
    assert services.verify_journal(posted, SYSTEM).ok


def test_inv2_entry_is_reversed_at_most_once_and_a_reversal_is_never_reversed(posted):
    day = D0 + dt.timedelta(days=1)
    first = services.reverse_entry(posted, SYSTEM, 2, "rev-2", day)
    # A retry of the same reversal is the same reversal, not a second one.
    again = services.reverse_entry(posted, SYSTEM, 2, "rev-2", day)
    assert (again.seq, again.created) == (first.seq, False)
    before = snapshot(posted)
    with pytest.raises(LedgerRefusal) as exc:
        services.reverse_entry(posted, SYSTEM, 2, "rev-2-bis", day)
    assert "already reversed" in refusal(exc)
    with pytest.raises(LedgerRefusal) as exc:
        services.reverse_entry(posted, SYSTEM, first.seq, "rev-of-rev", day)
    assert "a reversal cannot be reversed" in refusal(exc)
    with pytest.raises(LedgerRefusal) as exc:
        services.reverse_entry(posted, SYSTEM, 99, "rev-99", day)
    assert "no such entry" in refusal(exc)
    assert snapshot(posted) == before
    # Two reversals of one entry inside one batch are refused as well.
    services.allocate(posted, SYSTEM, "alloc-2", "P2", "CENTRAL", 1_000, day)
    seq = head(posted)[0]
    with unit_of_work(posted) as s:
        ps = journal.entry_postings(s, seq)
    drafts = [reversal_of("a", day, "", seq, ps), reversal_of("b", day, "", seq, ps)]
    with pytest.raises(LedgerRefusal) as exc:
        with unit_of_work(posted) as s:
            journal.post(s, drafts)
    assert "already reversed" in refusal(exc)


def test_inv2_database_refuses_a_second_reversal_and_reversing_a_reversal(posted):
    rev = services.reverse_entry(posted, SYSTEM, 2, "rev-2", D0).seq
    pool, proj = account_id(posted, POOL), account_id(posted, "Assets:Project:P1")
    central = fund_id(posted, "CENTRAL")
    seq = head(posted)[0] + 1
    # Reversing the reversal: refused by the insert trigger, whatever the postings.
    assert_db_refuses(posted, lambda conn: raw_entry(
        conn, seq, D0, [(proj, central, 60_000), (pool, central, -60_000)], reverses=rev, kind="reversal"),
        match="a reversal cannot be reversed")
    # Reversing entry 2 a second time: refused by the unique link.
    assert_db_refuses(posted, lambda conn: raw_entry(
        conn, seq, D0, [(proj, central, -60_000), (pool, central, 60_000)], reverses=2, kind="reversal"),
        match=None, exc_type=IntegrityError)


# ============================================================================================
# Invariant 3: the database refuses violations on both engines (seal pattern)


def test_inv3_entries_are_inserted_pending_and_sealed_after_their_postings(posted):
    pool, income = account_id(posted, POOL), account_id(posted, "Income:Transfer:CENTRAL")
    central = fund_id(posted, "CENTRAL")
    seq = head(posted)[0] + 1
    # Inserted already posted: the seal check would never run, so the insert is refused.
    assert_db_refuses(posted, lambda conn: raw_entry(conn, seq, D0, [], status="posted"),
                      match="inserted pending")

    def sealed_then_added(conn):
        raw_entry(conn, seq, D0, [(pool, central, 5), (income, central, -5)])
        conn.execute(RAW_SEAL, {"seq": seq})
        conn.execute(RAW_POSTING, {"seq": seq, "a": pool, "f": central, "amt": 7, "d": D0})

    assert_db_refuses(posted, sealed_then_added, match="pending entry")


def test_inv3_an_unsealed_entry_never_counts(posted):
    """PostgreSQL refuses to commit an entry left pending; SQLite (no deferred triggers) lets the row
    in, and `verify` then names it."""
    pool, income = account_id(posted, POOL), account_id(posted, "Income:Transfer:CENTRAL")
    central = fund_id(posted, "CENTRAL")
    seq = head(posted)[0] + 1

    def unsealed(conn):
        raw_entry(conn, seq, D0, [(pool, central, 1000), (income, central, -1)])

    if posted.dialect.name == "postgresql":
        assert "was not sealed" in assert_db_refuses(posted, unsealed)
        assert services.verify_journal(posted, SYSTEM).ok
    else:
        with posted.begin() as conn:
            unsealed(conn)
        result = services.verify_journal(posted, SYSTEM)
        assert not result.ok and result.first_bad_seq == seq and "not sealed" in result.message


# ============================================================================================
# Invariant 4: integer fen in the database, never floats


def test_inv4_amounts_are_stored_as_integer_fen(posted):
    cols = {(t, c["name"]): c["type"] for t in ("posting", "balance") for c in inspect(posted).get_columns(t)}
    assert isinstance(cols[("posting", "amount_fen")], BigInteger)
    assert isinstance(cols[("balance", "balance_fen")], BigInteger)
    with posted.connect() as c:
        amounts = c.execute(text("SELECT amount_fen FROM posting ORDER BY id")).scalars().all()
        balances = c.execute(text("SELECT balance_fen FROM balance")).scalars().all()
        if posted.dialect.name == "sqlite":
            kinds = set(c.execute(text("SELECT typeof(amount_fen) FROM posting UNION "
                                       "SELECT typeof(balance_fen) FROM balance")).scalars())
            assert kinds == {"integer"}
    assert amounts == [100_000, -100_000, 60_000, -60_000]
    assert all(type(v) is int for v in amounts + balances)


@pytest.mark.parametrize("amount", [12.5, 12, 1e3, True, None, "12.345", "1,000.00"])
def test_inv4_importer_refuses_non_decimal_string_amounts(amount):
    line = {"key": "k", "date": "2026-01-05", "kind": "migrated", "postings": [
        {"account": POOL, "fund": "F", "amount": amount},
        {"account": "Income:Transfer:F", "fund": "F", "amount": "-12.50"}]}
    draft, problems = parse_line(json.dumps(line).encode(), 7)
    assert draft is None
    assert [(p.row, p.field) for p in problems] == [(7, "postings[0].amount")]


def test_inv4_importer_reads_decimal_strings_exactly():
    line = {"key": "k", "date": "2026-01-05", "kind": "migrated", "postings": [
        {"account": POOL, "fund": "F", "amount": "0.10"}, {"account": "Income:Transfer:F", "fund": "F",
                                                           "amount": "-0.1"}]}
    draft, problems = parse_line(json.dumps(line).encode(), 1)
    assert problems == [] and [p.amount_fen for p in draft.postings] == [10, -10]


def test_inv4_a_float_amount_never_reaches_the_database(engine, tmp_path):
    funded(engine)
    before = snapshot(engine)
    # Through the importer: the whole file is refused.
    f = tmp_path / "j.jsonl"
    f.write_text(json.dumps({"key": "k1", "date": "2026-01-06", "kind": "migrated", "postings": [
        {"account": POOL, "fund": "CENTRAL", "amount": 12.5},
        {"account": "Income:Transfer:CENTRAL", "fund": "CENTRAL", "amount": -12.5}]}) + "\n")
    report = services.import_journal(engine, SYSTEM, f)
    assert not report.ok and report.posted == 0
    assert {e["column"] for e in report.as_dict()["errors"]} == {"postings[0].amount", "postings[1].amount"}
    # Through the journal itself (a caller's bug): refused before any SQL, not stored as REAL or rounded.
    for bad in (12.5, True):
        draft = EntryDraft(f"float-{bad}", D0, "migrated", "", (
            PostingDraft(POOL, "CENTRAL", bad), PostingDraft("Income:Transfer:CENTRAL", "CENTRAL", -bad)))
        with pytest.raises(LedgerRefusal) as exc:
            _post_draft(engine, draft)
        assert "integer fen" in refusal(exc)
    assert snapshot(engine) == before


def test_inv4_the_database_refuses_a_non_integer_amount(engine):
    """Going around the application: a REAL amount is refused by the database itself (SQLite,
    whose columns take any type, by a typeof trigger). PostgreSQL's BIGINT column can hold
    nothing but integers (it would cast, not store a float), so there we check the type."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as c:
            kind = c.execute(text("SELECT data_type FROM information_schema.columns "
                                  "WHERE table_name = 'posting' AND column_name = 'amount_fen'")).scalar_one()
        assert kind == "bigint"
        return
    funded(engine)
    pool, fid = account_id(engine, POOL), fund_id(engine, "CENTRAL")
    income = account_id(engine, "Income:Transfer:CENTRAL")
    seq = head(engine)[0] + 1
    raw_amount = text(
        "INSERT INTO posting (entry_seq, account_id, fund_id, amount_fen, party, effective_date) "
        "VALUES (:seq, :a, :f, CAST(:amt AS REAL), NULL, :d)"
    ).bindparams(bindparam("d", type_=Date))
    with pytest.raises(DBAPIError):
        with engine.begin() as conn:
            raw_entry(conn, seq, D0, [])
            conn.execute(raw_amount, [{"seq": seq, "a": pool, "f": fid, "amt": "12.5", "d": D0},
                                      {"seq": seq, "a": income, "f": fid, "amt": "-12.5", "d": D0}])
            conn.execute(RAW_SEAL, {"seq": seq})


# ============================================================================================
# Invariant 5: idempotency


def test_inv5_same_key_same_payload_returns_the_original_and_adds_nothing(engine):
    services.register_fund(engine, SYSTEM, "CENTRAL", "中央", "central")
    first = services.receive_fund(engine, SYSTEM, "bank-ref-001", "CENTRAL", 100_000, D0, "到位")
    assert first.created and first.seq == 1
    before = snapshot(engine)
    for _ in range(3):
        again = services.receive_fund(engine, SYSTEM, "bank-ref-001", "CENTRAL", 100_000, D0, "到位")
        assert (again.seq, again.created) == (1, False)
    assert snapshot(engine) == before
    assert tb(engine)[(POOL, "CENTRAL")] == 100_000


def test_inv5_same_key_different_payload_is_a_clear_conflict(engine):
    services.register_fund(engine, SYSTEM, "CENTRAL", "中央", "central")
    services.receive_fund(engine, SYSTEM, "bank-ref-001", "CENTRAL", 100_000, D0, "到位")
    before = snapshot(engine)
    conflicts = {
        "amount": lambda: services.receive_fund(engine, SYSTEM, "bank-ref-001", "CENTRAL", 100_001, D0, "到位"),
        "memo": lambda: services.receive_fund(engine, SYSTEM, "bank-ref-001", "CENTRAL", 100_000, D0, "other"),
        "date": lambda: services.receive_fund(engine, SYSTEM, "bank-ref-001", "CENTRAL", 100_000,
                                              D0 + dt.timedelta(days=1), "到位"),
        "kind": lambda: services.allocate(engine, SYSTEM, "bank-ref-001", "P1", "CENTRAL", 100, D0),
    }
    for what, conflict in conflicts.items():
        with pytest.raises(LedgerRefusal) as exc:
            conflict()
        [p] = exc.value.problems
        assert (p.field, p.value) == ("key", "bank-ref-001"), what
        assert p.message == "key already posted as entry 1 with a different payload", what
        assert snapshot(engine) == before, what


def test_inv5_repeats_inside_one_batch(engine):
    funded(engine)
    d = EntryDraft("batch-1", D0, "allocation", "", (
        PostingDraft("Assets:Project:P1", "CENTRAL", 10), PostingDraft(POOL, "CENTRAL", -10)))
    services.allocate(engine, SYSTEM, "open-p1", "P1", "CENTRAL", 1, D0)  # opens the account
    with unit_of_work(engine) as s:
        out = journal.post(s, [d, d])
    assert [(p.seq, p.created) for p in out] == [(3, True), (3, False)]
    changed = EntryDraft("batch-2", D0, "allocation", "", (
        PostingDraft("Assets:Project:P1", "CENTRAL", 11), PostingDraft(POOL, "CENTRAL", -11)))
    before = snapshot(engine)
    with pytest.raises(LedgerRefusal) as exc:
        with unit_of_work(engine) as s:
            journal.post(s, [dataclasses.replace(changed, memo="x"), changed])
    assert "repeated with a different payload" in refusal(exc)
    assert snapshot(engine) == before


def test_inv5_import_rows_are_keyed_by_their_reference(engine, tmp_path):
    services.register_fund(engine, SYSTEM, "CENTRAL", "中央", "central")

    def line(key: str, amount: str) -> str:
        return json.dumps({"key": key, "date": "2026-01-06", "kind": "fund_received", "postings": [
            {"account": POOL, "fund": "CENTRAL", "amount": amount},
            {"account": "Income:Transfer:CENTRAL", "fund": "CENTRAL", "amount": "-" + amount}]})

    f = tmp_path / "j.jsonl"
    f.write_text(line("ext-1", "10.00") + "\n" + line("ext-2", "20.00") + "\n")
    first = services.import_journal(engine, SYSTEM, f, open_missing=True)
    assert first.ok and first.posted == 2
    before = snapshot(engine)
    second = services.import_journal(engine, SYSTEM, f, open_missing=True)
    assert second.ok and (second.posted, second.already_posted) == (0, 2)
    assert snapshot(engine)["postings"] == before["postings"] and snapshot(engine)["head"] == before["head"]
    f.write_text(line("ext-1", "10.00") + "\n" + line("ext-2", "20.01") + "\n")
    before = snapshot(engine)
    third = services.import_journal(engine, SYSTEM, f, open_missing=True)
    assert not third.ok
    [err] = third.as_dict()["errors"]
    assert (err["row"], err["column"], err["value"]) == (2, "key", "ext-2")
    assert "different payload" in err["message"]
    assert snapshot(engine) == before


# ============================================================================================
# Invariant 6: tamper evidence (hash chain, verify, digest)


def _build_small_journal(engine) -> None:
    funded(engine, fund="CENTRAL")
    funded(engine, fund="TIANJIN", amount=50_000, on=D0 + dt.timedelta(days=1))
    services.allocate(engine, SYSTEM, "a1", "P1", "CENTRAL", 30_000, D0 + dt.timedelta(days=2))
    services.allocate(engine, SYSTEM, "a2", "P1", "TIANJIN", 20_000, D0 + dt.timedelta(days=2))
    services.reallocate(engine, SYSTEM, "m1", "P1", "P2", "CENTRAL", 5_000, D0 + dt.timedelta(days=3))
    services.redesignate(engine, SYSTEM, "d1", "Assets:Project:P2", "CENTRAL", "TIANJIN", 2_000,
                         D0 + dt.timedelta(days=4))
    services.reverse_entry(engine, SYSTEM, 4, "rev-4", D0 + dt.timedelta(days=5))


def test_inv6_each_entry_chains_to_the_previous_hash(engine):
    _build_small_journal(engine)
    with engine.connect() as c:
        entries = c.execute(text(
            "SELECT seq, idempotency_key, effective_date, recorded_at, kind, memo, reverses, maker_id, checker_id, "
            "status, prev_hash, hash FROM entry ORDER BY seq")).all()
        postings = c.execute(text(
            "SELECT p.entry_seq, a.code, f.code, p.amount_fen, p.party FROM posting p "
            "JOIN account a ON a.id = p.account_id JOIN fund f ON f.id = p.fund_id ORDER BY p.entry_seq, p.id")).all()
    by_entry = defaultdict(list)
    for seq, acct, fund, amt, party in postings:
        by_entry[seq].append((acct, fund, int(amt), party))
    assert [e.seq for e in entries] == list(range(1, 8))  # gap-free
    prev = GENESIS_HASH
    for e in entries:
        assert e.status == "posted"
        assert e.prev_hash == prev
        day = e.effective_date if isinstance(e.effective_date, dt.date) else dt.date.fromisoformat(e.effective_date)
        at = e.recorded_at if isinstance(e.recorded_at, dt.datetime) else dt.datetime.fromisoformat(e.recorded_at)
        recomputed = entry_hash(prev, e.seq, e.idempotency_key, day, at, e.kind, e.memo, e.reverses, e.maker_id,
                                e.checker_id, by_entry[e.seq])
        assert recomputed == e.hash
        prev = e.hash
    assert head(engine) == (7, prev)
    assert len({e.hash for e in entries}) == 7
    result = services.verify_journal(engine, SYSTEM)
    assert (result.ok, result.entries_checked, result.head_seq, result.head_hash) == (True, 7, 7, prev)
    assert result.first_bad_seq is None
    assert services.chain_digest(engine, SYSTEM) == {"seq": 7, "hash": prev}
    assert services.entry_hash_at(engine, SYSTEM, 3) == entries[2].hash
    with engine.connect() as c:
        assert c.execute(text("SELECT ok, head_seq FROM verification_run")).all() == [(True, 7)]


def test_inv6_digest_proves_history_was_not_rewritten(engine, db_url):
    _build_small_journal(engine)
    digest = services.chain_digest(engine, SYSTEM)
    good = f"{digest['seq']}:{digest['hash']}"
    # History grows after the auditor took the digest: the old digest still holds.
    services.allocate(engine, SYSTEM, "a3", "P3", "CENTRAL", 1_000, D0 + dt.timedelta(days=6))
    out = run_cli(db_url, "verify", "--json", "--digest", good)
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert body["ok"] and body["digest_ok"] and body["head_seq"] == 8
    bad = f"{digest['seq']}:{'0' * 64}"
    out = run_cli(db_url, "verify", "--json", "--digest", bad)
    assert out.returncode == 1
    body = json.loads(out.stdout)
    assert body["digest_ok"] is False and body["first_bad_seq"] == digest["seq"]
    assert "history was rewritten" in body["message"]
    out = run_cli(db_url, "verify", "--digest", "not-a-digest")
    assert out.returncode == 2 and "SEQ:HASH" in out.stderr


# ============================================================================================
# Invariant 7: limits (project and pool accounts never go below zero), also under concurrency


def test_inv7_pool_cannot_be_overdrawn(engine):
    funded(engine, amount=1_000)
    before = snapshot(engine)
    with pytest.raises(LedgerRefusal) as exc:
        services.allocate(engine, SYSTEM, "too-much", "P1", "CENTRAL", 1_001, D0)
    msg = refusal(exc)
    assert "Assets:Treasury:Pool in fund CENTRAL would go to -0.01" in msg
    assert snapshot(engine) == before  # not even the new project account was opened
    services.allocate(engine, SYSTEM, "exact", "P1", "CENTRAL", 1_000, D0)  # down to zero is fine
    assert (POOL, "CENTRAL") not in tb(engine)


def test_inv7_project_account_cannot_go_below_zero(engine):
    funded(engine)
    services.allocate(engine, SYSTEM, "a1", "P1", "CENTRAL", 600, D0)
    services.register_fund(engine, SYSTEM, "TIANJIN", "天津", "partner_aid")
    attempts = [
        lambda: services.reallocate(engine, SYSTEM, "m1", "P1", "P2", "CENTRAL", 601, D0),
        lambda: services.redesignate(engine, SYSTEM, "d1", "Assets:Project:P1", "CENTRAL", "TIANJIN", 601, D0),
    ]
    before = snapshot(engine)
    for attempt in attempts:
        with pytest.raises(LedgerRefusal) as exc:
            attempt()
        assert "Assets:Project:P1 in fund CENTRAL would go to -0.01; it may not go below zero" in refusal(exc)
        assert snapshot(engine) == before
    # A project cannot spend another fund's money either: P1 holds nothing in TIANJIN.
    with pytest.raises(LedgerRefusal) as exc:
        services.reallocate(engine, SYSTEM, "m2", "P1", "P2", "TIANJIN", 1, D0)
    assert "Assets:Project:P1 in fund TIANJIN" in refusal(exc)
    # A reversal is held to the same limit: P1's money has moved on, so the allocation cannot be undone.
    services.reallocate(engine, SYSTEM, "m3", "P1", "P2", "CENTRAL", 600, D0)
    before = snapshot(engine)
    with pytest.raises(LedgerRefusal) as exc:
        services.reverse_entry(engine, SYSTEM, 2, "rev-2", D0)
    assert "Assets:Project:P1 in fund CENTRAL would go to -6.00" in refusal(exc)
    assert snapshot(engine) == before
    assert services.verify_journal(engine, SYSTEM).ok


def test_inv7_database_refuses_a_negative_limited_balance(engine):
    funded(engine, amount=1_000)
    pool, central = account_id(engine, POOL), fund_id(engine, "CENTRAL")
    assert_db_refuses(engine, lambda conn: conn.execute(
        text("UPDATE balance SET balance_fen = -1 WHERE account_id = :a AND fund_id = :f"), {"a": pool, "f": central}),
        match="ck_balance_non_negative",
        exc_type=IntegrityError)


def test_inv7_concurrent_payers_cannot_overdraw_a_project(engine):
    funded(engine)
    services.allocate(engine, SYSTEM, "a1", "P1", "CENTRAL", 1_000, D0)
    n = 8
    barrier = threading.Barrier(n)
    outcomes: list[str] = []
    lock = threading.Lock()

    def pay(i: int) -> None:
        barrier.wait()
        try:
            # All into one brand-new project: the first use of an account races too.
            services.reallocate(engine, SYSTEM, f"pay-{i}", "P1", "NEW", "CENTRAL", 300, D0)
            result = "ok"
        except LedgerRefusal as exc:
            result = "refused" if "may not go below zero" in str(exc) else f"refused: {exc}"
        except Exception as exc:  # noqa: BLE001 - anything else is the bug this test looks for
            result = f"{type(exc).__name__}: {exc}"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=pay, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["ok"] * 3 + ["refused"] * (n - 3), outcomes
    balances = tb(engine)
    assert balances[("Assets:Project:P1", "CENTRAL")] == 100
    assert balances[("Assets:Project:NEW", "CENTRAL")] == 900
    assert services.verify_journal(engine, SYSTEM).ok


# ============================================================================================
# Invariant 8: closed periods


def test_inv8_nothing_can_be_posted_into_a_closed_month(engine):
    funded(engine, on=dt.date(2026, 1, 10))
    services.close_period(engine, SYSTEM, "2026-01")
    before = snapshot(engine)
    for day in (dt.date(2026, 1, 1), dt.date(2026, 1, 31)):
        with pytest.raises(LedgerRefusal) as exc:
            services.allocate(engine, SYSTEM, f"late-{day}", "P1", "CENTRAL", 100, day)
        assert "period 2026-01 is closed" in refusal(exc)
    with pytest.raises(LedgerRefusal) as exc:
        services.reverse_entry(engine, SYSTEM, 1, "rev-in-jan", dt.date(2026, 1, 31))
    assert "period 2026-01 is closed" in refusal(exc)
    assert snapshot(engine) == before
    # A retry of what was posted before the close is still the same entry (a retry never changes an outcome).
    again = services.receive_fund(engine, SYSTEM, "recv-CENTRAL", "CENTRAL", 100_000, dt.date(2026, 1, 10))
    assert (again.seq, again.created) == (1, False)
    # The database refuses too, going around the app.
    pool, income = account_id(engine, POOL), account_id(engine, "Income:Transfer:CENTRAL")
    central = fund_id(engine, "CENTRAL")
    seq = head(engine)[0] + 1
    assert "closed" in assert_db_refuses(
        engine, lambda conn: raw_entry(conn, seq, dt.date(2026, 1, 15), [(pool, central, 5), (income, central, -5)]))
    # February is open; the correction of January goes there.
    services.allocate(engine, SYSTEM, "feb-1", "P1", "CENTRAL", 100, dt.date(2026, 2, 1))
    services.reverse_entry(engine, SYSTEM, 2, "rev-feb", dt.date(2026, 2, 1))
    assert head(engine)[0] == 3
    assert services.verify_journal(engine, SYSTEM).ok


def test_inv8_closing_twice_is_refused_and_a_close_is_final(engine):
    services.close_period(engine, SYSTEM, "2026-01")
    before = snapshot(engine)
    with pytest.raises(LedgerRefusal) as exc:
        services.close_period(engine, SYSTEM, "2026-01")
    assert "already closed" in refusal(exc)
    for bad in ("2026-13", "2026-1", "January", "2026-01-01"):
        with pytest.raises(LedgerRefusal):
            services.close_period(engine, SYSTEM, bad)
    assert snapshot(engine) == before
    assert_db_refuses(engine, lambda conn: conn.execute(text("DELETE FROM period_close")))
    assert_db_refuses(engine, lambda conn: conn.execute(text("UPDATE period_close SET month = '2025-12'")))


def test_inv8_import_into_a_closed_month_is_refused(engine, tmp_path):
    funded(engine, on=dt.date(2026, 1, 10))
    services.close_period(engine, SYSTEM, "2026-01")
    f = tmp_path / "j.jsonl"
    f.write_text(json.dumps({"key": "x1", "date": "2026-01-20", "kind": "fund_received", "postings": [
        {"account": POOL, "fund": "CENTRAL", "amount": "1.00"},
        {"account": "Income:Transfer:CENTRAL", "fund": "CENTRAL", "amount": "-1.00"}]}) + "\n")
    before = snapshot(engine)
    report = services.import_journal(engine, SYSTEM, f)
    assert not report.ok and "period 2026-01 is closed" in report.problems[0].message
    assert snapshot(engine) == before


# ============================================================================================
# The audit log is append-only; as-of balances are the postings up to the date


def test_audit_log_refuses_update_and_delete(posted):
    with posted.connect() as c:
        actions = c.execute(text("SELECT action FROM audit_log ORDER BY id")).scalars().all()
    assert actions == ["fund.register", "fund.receive", "fund.allocate"]
    assert_db_refuses(posted, lambda conn: conn.execute(text("UPDATE audit_log SET action = 'nothing'")))
    assert_db_refuses(posted, lambda conn: conn.execute(text("UPDATE audit_log SET after = NULL WHERE id = 2")))
    assert_db_refuses(posted, lambda conn: conn.execute(text("DELETE FROM audit_log WHERE id = 3")))


def test_as_of_trial_balance_equals_the_postings_up_to_that_date(engine):
    jan, feb, mar = dt.date(2026, 1, 5), dt.date(2026, 2, 10), dt.date(2026, 3, 1)
    funded(engine, amount=100_000, on=jan)  # 1
    services.allocate(engine, SYSTEM, "a1", "P1", "CENTRAL", 40_000, jan)  # 2
    funded(engine, fund="TIANJIN", amount=30_000, on=feb)  # 3
    services.allocate(engine, SYSTEM, "a2", "P2", "TIANJIN", 10_000, feb)  # 4
    services.reallocate(engine, SYSTEM, "m1", "P1", "P2", "CENTRAL", 15_000, mar)  # 5
    services.reverse_entry(engine, SYSTEM, 4, "rev-4", mar)  # 6

    with engine.connect() as c:
        rows = c.execute(text(
            "SELECT a.code, f.code, p.amount_fen, p.effective_date FROM posting p "
            "JOIN account a ON a.id = p.account_id JOIN fund f ON f.id = p.fund_id")).all()

    def by_hand(as_of: dt.date) -> dict[tuple[str, str], int]:
        out: dict[tuple[str, str], int] = defaultdict(int)
        for acct, fund, amount, day in rows:
            day = day if isinstance(day, dt.date) else dt.date.fromisoformat(day)
            if day <= as_of:
                out[(acct, fund)] += int(amount)
        return {k: v for k, v in out.items() if v != 0}

    for as_of in (jan - dt.timedelta(days=1), jan, feb - dt.timedelta(days=1), feb, mar - dt.timedelta(days=1), mar,
                  dt.date(2030, 1, 1)):
        assert tb(engine, as_of) == by_hand(as_of), as_of
    # And the numbers themselves, worked out on paper.
    assert tb(engine, jan) == {(POOL, "CENTRAL"): 60_000, ("Assets:Project:P1", "CENTRAL"): 40_000,
                               ("Income:Transfer:CENTRAL", "CENTRAL"): -100_000}
    assert tb(engine, feb)[("Assets:Project:P2", "TIANJIN")] == 10_000
    assert tb(engine, mar)[("Assets:Project:P2", "CENTRAL")] == 15_000
    assert ("Assets:Project:P2", "TIANJIN") not in tb(engine, mar)
    assert tb(engine, jan - dt.timedelta(days=1)) == {}
    assert tb(engine) == tb(engine, dt.date(2030, 1, 1))
