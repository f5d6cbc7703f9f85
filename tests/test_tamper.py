"""Tamper evidence (DESIGN.md §3 invariant 6, §12 "faults"): act as a DBA who goes around the
application, then run the real `huimin verify` and expect it to name what was changed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess

import pytest
from sqlalchemy import text

from ledger import services
from ledger.entries import entry_hash
from ledger.models import GENESIS_HASH
from ledger.permissions import SYSTEM
from tests.helpers import huimin_cmd

D0 = dt.date(2026, 4, 1)


def verify_cli(db_url: str, *extra: str) -> tuple[int, dict]:
    env = dict(os.environ, HUIMIN_DATABASE_URL=db_url)
    out = subprocess.run([*huimin_cmd(), "verify", "--json", *extra], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.strip(), out.stderr
    return out.returncode, json.loads(out.stdout)


def drop_trigger(conn, name: str, table: str) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"DROP TRIGGER {name} ON {table}"))
    else:
        conn.execute(text(f"DROP TRIGGER {name}"))


@pytest.fixture
def journal_of_four(engine):
    """1 receive, 2 allocate P1, 3 allocate P2, 4 reallocate P1 -> P2."""
    services.register_fund(engine, SYSTEM, "CENTRAL", "中央", "central")
    services.receive_fund(engine, SYSTEM, "r1", "CENTRAL", 100_000, D0)
    services.allocate(engine, SYSTEM, "a1", "P1", "CENTRAL", 30_000, D0)
    services.allocate(engine, SYSTEM, "a2", "P2", "CENTRAL", 20_000, D0)
    services.reallocate(engine, SYSTEM, "m1", "P1", "P2", "CENTRAL", 5_000, D0)
    return engine


def test_changed_posting_is_caught_by_the_hash_and_named(journal_of_four, db_url):
    engine = journal_of_four
    clean = services.verify_journal(engine, SYSTEM)
    assert clean.ok and clean.entries_checked == 4
    with engine.begin() as conn:
        drop_trigger(conn, "posting_no_update", "posting")
        # Entry 2 (30,000 fen to P1) becomes 30,100: both postings, so the entry still balances and
        # only the hash can tell.
        changed = conn.execute(text("UPDATE posting SET amount_fen = amount_fen + SIGN(amount_fen) * 100 "
                                    "WHERE entry_seq = :seq"), {"seq": 2}).rowcount
        assert changed == 2
        sums = conn.execute(text("SELECT SUM(amount_fen) FROM posting WHERE entry_seq = 2")).scalar_one()
        assert sums == 0
    code, body = verify_cli(db_url)
    assert code == 1
    assert body["ok"] is False
    assert body["first_bad_seq"] == 2
    assert "entry 2" in body["message"] and "hash" in body["message"]
    # The failure is recorded too, not only printed.
    with engine.connect() as c:
        assert c.execute(text("SELECT ok, first_bad_seq FROM verification_run ORDER BY id DESC")).first() == (
            False, 2)


def test_changed_balance_row_is_detected_and_named(journal_of_four, db_url):
    engine = journal_of_four
    assert services.verify_journal(engine, SYSTEM).ok
    with engine.begin() as conn:
        conn.execute(text(
            "UPDATE balance SET balance_fen = balance_fen + 100 WHERE account_id = "
            "(SELECT id FROM account WHERE code = 'Assets:Project:P2') AND fund_id = "
            "(SELECT id FROM fund WHERE code = 'CENTRAL')"))
    code, body = verify_cli(db_url)
    assert code == 1
    assert body["ok"] is False
    assert "Assets:Project:P2" in body["message"] and "CENTRAL" in body["message"]
    assert "250.00" in body["message"] and "251.00" in body["message"]  # the postings say 250, the row says 251
    assert body["first_bad_seq"] == 4  # the last entry that touched that balance


def test_consistent_rewrite_passes_the_chain_but_not_an_old_digest(journal_of_four, db_url):
    """A DBA who rewrites history and re-chains every later hash fools the chain check; an auditor's
    digest taken before the rewrite still catches it."""
    engine = journal_of_four
    digest = services.chain_digest(engine, SYSTEM)
    with engine.begin() as conn:
        drop_trigger(conn, "posting_no_update", "posting")
        drop_trigger(conn, "entry_update_guard", "entry")
        conn.execute(text("UPDATE posting SET amount_fen = amount_fen + SIGN(amount_fen) * 100 "
                          "WHERE entry_seq = 2"))
        conn.execute(text("UPDATE balance SET balance_fen = balance_fen + 100 WHERE account_id = "
                          "(SELECT id FROM account WHERE code = 'Assets:Project:P1')"))
        conn.execute(text("UPDATE balance SET balance_fen = balance_fen - 100 WHERE account_id = "
                          "(SELECT id FROM account WHERE code = 'Assets:Treasury:Pool')"))
        entries = conn.execute(text(
            "SELECT seq, idempotency_key, effective_date, recorded_at, kind, memo, reverses, maker_id, checker_id "
            "FROM entry ORDER BY seq")).all()
        prev = GENESIS_HASH
        for e in entries:
            postings = [tuple(r) for r in conn.execute(text(
                "SELECT a.code, f.code, p.amount_fen, p.party FROM posting p JOIN account a ON a.id = p.account_id "
                "JOIN fund f ON f.id = p.fund_id WHERE p.entry_seq = :s ORDER BY p.id"), {"s": e.seq})]
            day = e.effective_date if isinstance(e.effective_date, dt.date) else dt.date.fromisoformat(e.effective_date)
            at = e.recorded_at if isinstance(e.recorded_at, dt.datetime) else dt.datetime.fromisoformat(e.recorded_at)
            h = entry_hash(prev, e.seq, e.idempotency_key, day, at, e.kind, e.memo, e.reverses, e.maker_id,
                           e.checker_id, postings)
            conn.execute(text("UPDATE entry SET prev_hash = :p, hash = :h WHERE seq = :s"),
                         {"p": prev, "h": h, "s": e.seq})
            prev = h
        conn.execute(text("UPDATE journal_head SET hash = :h"), {"h": prev})
    rewritten = services.verify_journal(engine, SYSTEM)
    assert rewritten.ok, rewritten.message  # the rewrite is internally consistent …
    code, body = verify_cli(db_url, "--digest", f"{digest['seq']}:{digest['hash']}")
    assert code == 1  # … but not with what the auditor kept
    assert body["digest_ok"] is False and body["first_bad_seq"] == digest["seq"] == 4
