"""Journal import against the raw SQLite floor (DESIGN.md §11), side by side in one run.

    python benchmarks/journal_import.py [--entries 100000] [--runs 1] [--no-peer] [--ablation]

1. Generates a synthetic journal (ledger.synthetic) as JSON Lines in a temporary directory.
2. huimin: `huimin db upgrade` on a fresh SQLite file (not timed), then times
   `huimin journal import FILE --open` as a subprocess: the real command end to end, process
   start, reading and parsing the file, every check, posting, hash chain, seal, balances, commit.
3. floor: a subprocess (this script, `--floor DB FILE`) reads and parses the same JSON lines,
   fills plain tables (accounts, funds, entries, postings; primary keys only, no triggers) with
   sqlite3 `executemany` in one transaction, then stores the balances with one GROUP BY.
4. schema floor (for the reader; not the target): the same raw sqlite3 inserts into huimin's own
   migrated schema (its indexes, foreign keys, append-only triggers and the seal), with no Python
   checks and a plain SHA-256 of each line as its hash. It shows what the schema itself costs.
   With --ablation it runs again with the triggers (and so the seal), then the foreign keys, then
   the secondary indexes taken away, cumulatively, to show what each guarantee costs.
5. Verifies the imported database with `huimin verify` (timed separately, not in the ratio), so
   the speed cannot come from skipped work.
6. Peer (unless --no-peer): `huimin export beancount` (not timed), then times Beancount's
   `bean-check --no-cache` on that file (without --no-cache a re-run only loads its pickle cache).

Every side reads and parses the JSON lines itself, and every time includes its process start. All
SQLite files use WAL with synchronous=NORMAL. Times are wall-clock seconds of each subprocess (CPU
seconds, user + system, are printed too: they vary less when the machine is busy); peak RSS is
that process's own maximum resident set (os.wait4). With --runs N every side runs N times on fresh
files and medians are reported.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import Run, counts, huimin_env, run  # noqa: E402  (benchmarks/ is the script's folder)

BIN = Path(sys.executable).parent
SCRIPT = str(Path(__file__).resolve())


# ---------------------------------------------------------------------------------------------
# The floors: the least any importer must do to store these rows in SQLite.

FLOOR_SCHEMA = (
    "CREATE TABLE account (id INTEGER PRIMARY KEY, code TEXT)",
    "CREATE TABLE fund (id INTEGER PRIMARY KEY, code TEXT)",
    "CREATE TABLE entry (seq INTEGER PRIMARY KEY, idempotency_key TEXT, effective_date TEXT, kind TEXT, memo TEXT)",
    "CREATE TABLE posting (id INTEGER PRIMARY KEY, entry_seq INTEGER, account_id INTEGER, fund_id INTEGER, "
    "amount_fen INTEGER, party TEXT, effective_date TEXT)",
    "CREATE TABLE balance (account_id INTEGER, fund_id INTEGER, balance_fen INTEGER, "
    "PRIMARY KEY (account_id, fund_id))",
)


def _fen(text: str) -> int:
    """'-1234.5' -> -123450: exact, integer only (the floor may not use floats either)."""
    neg = text.startswith("-")
    whole, _, frac = text.lstrip("-").partition(".")
    fen = int(whole) * 100 + int((frac + "00")[:2])
    return -fen if neg else fen


def _read(journal: Path, with_lines: bool = False):
    """Parse the JSON lines: accounts and funds numbered on first use, entries and postings as rows."""
    loads = json.loads
    accounts: dict[str, int] = {}
    first_day: dict[str, str] = {}
    funds: dict[str, int] = {}
    entries: list[tuple] = []
    postings: list[tuple] = []
    raws: list[bytes] = []
    with journal.open("rb") as fh:
        for seq, raw in enumerate(fh, start=1):
            e = loads(raw)
            day = e["date"]
            entries.append((seq, e["key"], day, e["kind"], e.get("memo", "")))
            if with_lines:
                raws.append(raw)
            for p in e["postings"]:
                code = p["account"]
                a = accounts.get(code)
                if a is None:
                    a = accounts[code] = len(accounts) + 1
                    first_day[code] = day
                elif day < first_day[code]:
                    first_day[code] = day
                f = funds.get(p["fund"])
                if f is None:
                    f = funds[p["fund"]] = len(funds) + 1
                postings.append((seq, a, f, _fen(p["amount"]), p.get("party"), day))
    return accounts, first_day, funds, entries, postings, raws


def floor_main(db: Path, journal: Path) -> None:
    accounts, _, funds, entries, postings, _ = _read(journal)
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    for stmt in FLOOR_SCHEMA:
        con.execute(stmt)
    con.execute("BEGIN IMMEDIATE")
    con.executemany("INSERT INTO account (id, code) VALUES (?, ?)", [(i, c) for c, i in accounts.items()])
    con.executemany("INSERT INTO fund (id, code) VALUES (?, ?)", [(i, c) for c, i in funds.items()])
    con.executemany("INSERT INTO entry VALUES (?, ?, ?, ?, ?)", entries)
    con.executemany("INSERT INTO posting (entry_seq, account_id, fund_id, amount_fen, party, effective_date) "
                    "VALUES (?, ?, ?, ?, ?, ?)", postings)
    con.execute("INSERT INTO balance SELECT account_id, fund_id, SUM(amount_fen) FROM posting "
                "GROUP BY account_id, fund_id")
    con.execute("COMMIT")
    con.close()


_ROOT_TYPES = {"Assets": "asset", "Liabilities": "liability", "Equity": "equity", "Income": "income",
               "Expenses": "expense"}
_LIMITED = ("Assets:Treasury:", "Assets:Project:", "Assets:Advance:", "Assets:RiskFund:")


# The ablation (--ablation): what is left of the schema floor's cost as its guarantees are taken
# away one after another, on a throwaway copy, as a database administrator could. Cumulative.
ABLATION_STEPS = ("triggers", "foreign_keys", "secondary_indexes")
_SECONDARY_INDEXES = ("ix_entry_kind", "ix_entry_effective_date", "ix_posting_account_fund_date",
                      "ix_posting_effective_date", "ix_posting_entry")


def schema_floor_main(db: Path, journal: Path, chunk: int, without: frozenset[str] = frozenset()) -> None:
    """The same rows into huimin's migrated schema with raw sqlite3: no Python checks at all.

    `without` takes guarantees away for the ablation: "triggers" (every trigger on entry and
    posting dropped; entries go in as posted, no seal), "foreign_keys" (the pragma off),
    "secondary_indexes" (the non-unique indexes on entry and posting dropped). The unique
    indexes (idempotency key, hash, reverses) stay: they are part of the tables."""
    assert without <= set(ABLATION_STEPS), without
    sealed = "triggers" not in without
    accounts, first_day, funds, entries, postings, raws = _read(journal, with_lines=True)
    recorded = time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime())
    rows, prev = [], "0" * 64
    for (seq, key, day, kind, memo), raw in zip(entries, raws, strict=True):
        h = hashlib.sha256(prev.encode() + raw).hexdigest()
        rows.append((seq, day, recorded, kind, memo, key, hashlib.sha256(raw).hexdigest(), None, 1, None,
                     "pending" if sealed else "posted", prev, h))
        prev = h
    con = sqlite3.connect(db, isolation_level=None)
    fks = "OFF" if "foreign_keys" in without else "ON"
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", f"foreign_keys={fks}", "temp_store=MEMORY",
                   "cache_size=-65536"):
        con.execute("PRAGMA " + pragma)
    # Names come from sqlite_master of this throwaway copy and from the fixed tuple above.
    if not sealed:
        for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                                   "AND tbl_name IN ('entry', 'posting')").fetchall():
            con.execute(f'DROP TRIGGER "{name}"')
    if "secondary_indexes" in without:
        for name in _SECONDARY_INDEXES:
            con.execute(f'DROP INDEX "{name}"')
    con.execute("BEGIN IMMEDIATE")
    con.executemany("INSERT INTO fund (id, code, name, kind, created_at) VALUES (?, ?, ?, 'unclassified', ?)",
                    [(i, c, c, recorded) for c, i in funds.items()])
    con.executemany(
        "INSERT INTO account (id, code, type, name_zh, name_en, opened_on, limit_kind) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(i, c, _ROOT_TYPES[c.split(":", 1)[0]], c, c, first_day[c],
          "non_negative" if c.startswith(_LIMITED) else "none") for c, i in accounts.items()])
    p = 0
    for start in range(0, len(rows), chunk):
        part = rows[start:start + chunk]
        last = part[-1][0]
        end = p
        while end < len(postings) and postings[end][0] <= last:
            end += 1
        con.executemany("INSERT INTO entry (seq, effective_date, recorded_at, kind, memo, idempotency_key, "
                        "payload_hash, reverses, maker_id, checker_id, status, prev_hash, hash) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", part)
        con.executemany("INSERT INTO posting (entry_seq, account_id, fund_id, amount_fen, party, effective_date) "
                        "VALUES (?, ?, ?, ?, ?, ?)", postings[p:end])
        if sealed:
            con.execute("UPDATE entry SET status = 'posted' WHERE seq BETWEEN ? AND ?", (part[0][0], last))
        p = end
    con.execute("INSERT INTO balance (account_id, fund_id, balance_fen, version, last_seq, non_negative) "
                "SELECT p.account_id, p.fund_id, SUM(p.amount_fen), 1, MAX(p.entry_seq), "
                "a.limit_kind = 'non_negative' FROM posting p JOIN account a ON a.id = p.account_id "
                "GROUP BY p.account_id, p.fund_id")
    con.execute("UPDATE journal_head SET seq = ?, hash = ? WHERE id = 1", (len(rows), prev))
    con.execute("COMMIT")
    con.close()


# ---------------------------------------------------------------------------------------------
# Running and timing subprocesses


def workload(journal: Path) -> tuple[int, int, int, int]:
    accounts, _, funds, entries, postings, _ = _read(journal)
    return len(entries), len(postings), len(accounts), len(funds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--households", type=int, default=None,
                    help="default 0.77 × entries: about 56,000 accounts at 100,000 entries (DESIGN.md §11)")
    ap.add_argument("--projects", type=int, default=200)
    ap.add_argument("--runs", type=int, default=1, help="repeat every side on fresh files; report medians")
    ap.add_argument("--no-peer", action="store_true", help="skip Beancount's bean-check")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory and print it")
    ap.add_argument("--floor", nargs=2, metavar=("DB", "FILE"), help=argparse.SUPPRESS)
    ap.add_argument("--ablation", action="store_true",
                    help="also run the schema floor with its triggers, foreign keys and secondary indexes "
                         "taken away one after another (cumulative), to show where the schema's cost lies")
    ap.add_argument("--schema-floor", nargs=2, metavar=("DB", "FILE"), help=argparse.SUPPRESS)
    ap.add_argument("--without", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.floor:
        floor_main(Path(args.floor[0]), Path(args.floor[1]))
        return
    if args.schema_floor:
        without = frozenset(w for w in args.without.split(",") if w)
        schema_floor_main(Path(args.schema_floor[0]), Path(args.schema_floor[1]), 10_000, without)
        return

    from ledger.synthetic import write_journal

    huimin = str(BIN / "huimin")
    bean_check = shutil.which("bean-check", path=str(BIN)) or shutil.which("bean-check")
    tmp = Path(tempfile.mkdtemp(prefix="huimin-bench-"))
    try:
        journal = tmp / "journal.jsonl"
        households = args.households or max(10, round(args.entries * 0.77))
        write_journal(journal, args.entries, args.seed, households=households, projects=args.projects)
        n_entries, n_postings, n_accounts, n_funds = workload(journal)
        size_mib = journal.stat().st_size / (1 << 20)
        print(f"workload: {n_entries:,} entries, {n_postings:,} postings, {n_accounts:,} accounts, {n_funds} funds "
              f"({size_mib:.1f} MiB JSON Lines; seed {args.seed}, households {households:,}, "
              f"projects {args.projects})")
        print(f"machine:  {platform.python_implementation()} {platform.python_version()}, SQLite "
              f"{sqlite3.sqlite_version}, {os.cpu_count()} cores, {platform.machine()}")
        print("every side reads and parses the JSON lines itself; every time includes its process start\n")

        imports: list[Run] = []
        floors: list[Run] = []
        schema_floors: list[Run] = []
        want = {"entry": n_entries, "posting": n_postings, "account": n_accounts}
        db = tmp / "huimin.db"
        for i in range(args.runs):
            db = tmp / f"huimin-{i}.db"
            run([huimin, "db", "upgrade"], huimin_env(db), tmp)
            r = run([huimin, "journal", "import", str(journal), "--open", "--json"], huimin_env(db), tmp)
            report = json.loads(r.stdout)
            assert report["ok"] and report["posted"] == n_entries, report
            imports.append(r)

            floor_db = tmp / f"floor-{i}.db"
            floors.append(run([sys.executable, SCRIPT, "--floor", str(floor_db), str(journal)], dict(os.environ), tmp))
            assert counts(floor_db, tuple(want)) == want

            schema_db = tmp / f"schema-floor-{i}.db"
            run([huimin, "db", "upgrade"], huimin_env(schema_db), tmp)
            schema_floors.append(run([sys.executable, SCRIPT, "--schema-floor", str(schema_db), str(journal)],
                                     dict(os.environ), tmp))
            assert counts(schema_db, tuple(want)) == want

        # The ablation: each step keeps the ones before it (cumulative), medians over --runs.
        ablation: list[tuple[str, list[Run]]] = []
        for k in range(len(ABLATION_STEPS) if args.ablation else 0):
            without = ",".join(ABLATION_STEPS[:k + 1])
            step_runs: list[Run] = []
            for i in range(args.runs):
                step_db = tmp / f"ablation-{k}-{i}.db"
                run([huimin, "db", "upgrade"], huimin_env(step_db), tmp)
                step_runs.append(run([sys.executable, SCRIPT, "--schema-floor", str(step_db), str(journal),
                                      "--without", without], dict(os.environ), tmp))
                assert counts(step_db, tuple(want)) == want
            ablation.append((without, step_runs))

        assert counts(db, tuple(want)) == want
        v = run([huimin, "verify", "--json"], huimin_env(db), tmp, check=False)
        verdict = json.loads(v.stdout)

        def med(runs: list[Run]) -> tuple[float, float, float]:
            return (statistics.median(r.seconds for r in runs), statistics.median(r.cpu_seconds for r in runs),
                    max(r.max_rss_mib for r in runs))

        t_import, t_floor, t_schema = med(imports)[0], med(floors)[0], med(schema_floors)[0]
        rows = [("huimin journal import --open", *med(imports)),
                ("floor: sqlite3 executemany + GROUP BY", *med(floors)),
                ("schema floor: same, into huimin's schema", *med(schema_floors))]
        t_bean = None
        if not args.no_peer:
            if bean_check is None:
                print("bean-check not found (pip install beancount); peer skipped\n")
            else:
                bean = tmp / "journal.beancount"
                run([huimin, "export", "beancount", str(bean)], huimin_env(db), tmp)
                # --no-cache: parse and check the file every time (its pickle cache would skip the work).
                beans = [run([bean_check, "--no-cache", str(bean)], dict(os.environ), tmp) for _ in range(args.runs)]
                t_bean = med(beans)[0]
                rows.append(("peer: bean-check (Beancount)", *med(beans)))
        rows.append(("huimin verify (after the import)", v.seconds, v.cpu_seconds, v.max_rss_mib))

        runs = f" (median of {args.runs})" if args.runs > 1 else ""
        print(f"{'step' + runs:<42} {'wall s':>8} {'CPU s':>8} {'peak RSS':>10}")
        for name, sec, cpu, rss in rows:
            print(f"{name:<42} {sec:>8.2f} {cpu:>8.2f} {rss:>6.0f} MiB")
        print()
        ratio = t_import / t_floor
        print(f"ratio import / floor:        {ratio:5.2f}×  (target ≤ 2×)")
        print(f"ratio schema floor / floor:  {t_schema / t_floor:5.2f}×  (what the schema alone costs)")
        if t_bean is not None:
            print(f"ratio import / bean-check:   {t_import / t_bean:5.2f}×  (target < 1×)")
        if ablation:
            print("\nablation: the schema floor as its guarantees are taken away (cumulative)")
            print(f"{'taken away':<48} {'wall s':>8} {'CPU s':>8} {'/ floor':>8}")
            print(f"{'nothing (the schema floor)':<48} {t_schema:>8.2f} {med(schema_floors)[1]:>8.2f} "
                  f"{t_schema / t_floor:>7.2f}×")
            for without, step_runs in ablation:
                sec, cpu, _ = med(step_runs)
                label = " + ".join(w.replace("_", " ") for w in without.split(","))
                print(f"{label:<48} {sec:>8.2f} {cpu:>8.2f} {sec / t_floor:>7.2f}×")
        print(f"verify: {'ok' if verdict['ok'] else 'FAILED'} — {verdict['entries_checked']:,} entries checked, "
              f"head {verdict['head_seq']} {verdict['head_hash'][:16]}…")
        print()
        print("| entries | postings | accounts | huimin import (s) | floor (s) | ratio | schema floor (s) "
              "| bean-check (s) |")
        print("|--:|--:|--:|--:|--:|--:|--:|--:|")
        bean_cell = f"{t_bean:.2f}" if t_bean is not None else "–"
        print(f"| {n_entries:,} | {n_postings:,} | {n_accounts:,} | {t_import:.2f} | {t_floor:.2f} | {ratio:.2f}× "
              f"| {t_schema:.2f} | {bean_cell} |")
        if not verdict["ok"]:
            sys.exit(1)
    finally:
        if args.keep:
            print(f"\nfiles kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
