"""The county demo and a 100,000-row payment roll against the raw SQLite floor (DESIGN.md §10, §11).

    python benchmarks/county_demo.py [--rows 100000] [--households 25000] [--runs 1] [--skip-demo] [--json]

1. demo: `huimin demo --scale county --seed 7` on a fresh SQLite file, as a subprocess, end to end
   (migration, registry, funds, projects, subsidy and wage history, posts, today's work, verify).
   Reported: wall and CPU seconds, peak RSS, and what it built (rows of household, person,
   payment_row, entry and posting, counted in the file with sqlite3). It runs once, whatever --runs
   says: it takes minutes and is an absolute figure, not a ratio.
2. payment roll, set-up (not timed): `huimin db upgrade` on a fresh SQLite file, then a subprocess
   (this script, `--setup`) that goes through the ledger's own services: 15 townships and the
   households with their families (ledger.demo.generate_county with a custom Scale), a finance
   officer and an approver, one fund received, one county-wide subsidy project created, approved and
   implementing, with enough allocated. It writes the roll as a §8 payments CSV: every household ×
   as many months as --rows needs (default 25,000 × 4 = 100,000 rows), each passing every check
   (payee = the head, account = the household's 一卡通 card, amounts within the project's standard per household).
3. huimin: times `huimin import payments ROLL.csv --history --approved-by APPROVER --json` as a
   subprocess on a copy of the set-up database: process start, reading and checking the sheet, every
   row against the registry and the project, one hash-chained entry per row, the history marks, the
   payment rows, commit. Its JSON must say rows_created = --rows.
4. floor: a subprocess (this script, `--floor DB FILE`) reads and parses the same CSV with the csv
   module and fills plain tables (payment rows, entries, two postings per row; primary keys only, no
   triggers, no other indexes) with sqlite3 `executemany` in one transaction, then stores the
   balances with one GROUP BY.
5. schema floor (for the reader; not the target): the same rows with raw sqlite3 into huimin's own
   migrated schema on a copy of the set-up database (its indexes, foreign keys, append-only
   triggers, the seal, the hash chain as a plain SHA-256 of each line), with no Python checks.
6. dry run (an extra line): `huimin import payments ROLL.csv --dry-run --count N --total YUAN --json`
   on another copy: the validation-only path (every check, the rows written and rolled back).
7. `huimin verify` on the imported database (timed, not in the ratio), which must say ok.

Every side reads and parses the CSV itself, and every time includes its process start. All SQLite
files use WAL with synchronous=NORMAL. Times are wall-clock seconds of each subprocess (CPU seconds,
user + system, are printed too: they vary less when the machine is busy); peak RSS is that process's
own maximum resident set (os.wait4). With --runs N the import, the floors and the dry run run N times
on fresh copies and medians are reported. Everything goes into a temporary directory that is removed
afterwards (--keep keeps it).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import json
import math
import os
import platform
import random
import secrets
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

# Limits: one roll is one `import_payments` call (ledger.payments.MAX_ROWS_PER_CALL) and one sheet
# (ledger.imports.tabular.MAX_ROWS and MAX_FILE_BYTES, about 16 MiB at 100,000 rows here).
MAX_ROWS = 200_000
MIN_ROWS = 100
MAX_HOUSEHOLDS = 100_000
MAX_PERIODS = 12  # the months of one year: one payment per household, project and month
MAX_RUNS = 9
PERSONS_PER_HOUSEHOLD = 123_717 / 31_943  # the reference county's (DESIGN.md §10)
YEAR = 2026
PROJECT = f"XM-{YEAR}-BENCH"
INDUSTRY = "grape"  # a county-wide subsidy programme; any household may be paid
MONTHLY_FEN = 150_000  # ¥1,500.00 at most per household and month
# The project's standard is per household in total (ledger.payments): a year of monthly payments fits.
STANDARD_FEN = MONTHLY_FEN * MAX_PERIODS
FUND = "CENTRAL"
FINANCE_USER, APPROVER_USER = "bench-finance", "bench-approver"
HEADERS = ("ref", "batch_no", "project_code", "household_no", "payee_id_number", "payee_name", "bank_account",
           "amount", "paid_on", "purpose", "period")
DEMO_TABLES = ("household", "person", "payment_row", "entry", "posting")


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _fen(text: str) -> int:
    """'1234.5' -> 123450: exact, integer only (the floor may not use floats either)."""
    neg = text.startswith("-")
    whole, _, frac = text.lstrip("-").partition(".")
    fen = int(whole) * 100 + int((frac + "00")[:2])
    return -fen if neg else fen


# ---------------------------------------------------------------------------------------------
# Set-up (a subprocess with HUIMIN_DATABASE_URL pointing at the fresh database): through the services


def setup_main(spec: dict) -> None:
    from ledger import projects, registry, services, users
    from ledger.db import get_engine
    from ledger.demo import Scale, generate_county
    from ledger.permissions import SYSTEM
    from ledger.projects import ProjectIn

    households, rows, seed = spec["households"], spec["rows"], spec["seed"]
    persons = max(households, round(households * PERSONS_PER_HOUSEHOLD))
    county = generate_county(Scale("bench", 15, 218, households, persons, 20), seed)
    engine = get_engine()
    for name, role in ((FINANCE_USER, "finance_officer"), (APPROVER_USER, "approver")):
        users.create_user(engine, SYSTEM, name, role, secrets.token_urlsafe(24), display_name=name)
    fo = _actor(engine, FINANCE_USER)
    ap = _actor(engine, APPROVER_USER)
    registry.upsert_townships(engine, SYSTEM, county.townships)
    registry.upsert_households(engine, fo, county.households, county.persons, create_villages=True,
                               effective_on=dt.date(YEAR, 1, 1), reason="benchmark registry")

    # The roll: month by month, every household once a month, until --rows rows.
    rng = random.Random(seed + 1)
    roll: list[tuple] = []
    order = [h.household_no for h in county.households]
    for month in range(1, MAX_PERIODS + 1):
        for no in order:
            if len(roll) == rows:
                break
            pid, name, card = county.heads[no]
            amount = MONTHLY_FEN - rng.randrange(0, 50_001)  # ¥1,000.00 to ¥1,500.00
            roll.append((f"BP{month:02d}-{no}", f"BENCH-{YEAR}-{month:02d}", PROJECT, no, pid, name, card,
                         _yuan(amount), dt.date(YEAR, month, 15).isoformat(), "subsidy", f"{YEAR}-{month:02d}"))
    total = sum(_fen(r[7]) for r in roll)
    with Path(spec["roll"]).open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(HEADERS)
        w.writerows(roll)

    allocated = total * 11 // 10
    services.register_fund(engine, SYSTEM, FUND, "中央财政衔接推进乡村振兴补助资金", "central", "新财农〔2026〕3号")
    services.receive_fund(engine, SYSTEM, "bench:receive", FUND, total * 12 // 10, dt.date(YEAR, 1, 5), "基准测试资金")
    projects.create_project(engine, fo, ProjectIn(
        PROJECT, f"{YEAR}年葡萄提质增效项目（基准测试）", INDUSTRY, dt.date(YEAR, 1, 1), allocated,
        standard_fen=STANDARD_FEN, end_on=dt.date(YEAR, 12, 31), performance_target="按月足额发放"))
    projects.change_project_status(engine, ap, PROJECT, "approved", "县项目库批复")
    projects.change_project_status(engine, fo, PROJECT, "implementing", "开工实施")
    services.allocate(engine, SYSTEM, "bench:allocate", PROJECT, FUND, allocated, dt.date(YEAR, 1, 8), "基准测试")
    Path(spec["facts"]).write_text(json.dumps({
        "rows": len(roll), "households": len(county.households), "persons": len(county.persons),
        "periods": math.ceil(len(roll) / len(county.households)), "total": _yuan(total),
        "approver": APPROVER_USER}))
    engine.dispose()


def _actor(engine, username: str):
    from sqlalchemy import select

    from ledger import users
    from ledger.db import read_only

    with read_only(engine) as s:
        return users.actor_of(s.execute(select(users.USER).where(users.USER.c.username == username)).one())


# ---------------------------------------------------------------------------------------------
# The floors: the least any importer must do to store these rows in SQLite


FLOOR_SCHEMA = (
    "CREATE TABLE account (id INTEGER PRIMARY KEY, code TEXT)",
    "CREATE TABLE fund (id INTEGER PRIMARY KEY, code TEXT)",
    "CREATE TABLE payment_row (id INTEGER PRIMARY KEY, ref TEXT, batch_no TEXT, project_code TEXT, "
    "household_no TEXT, payee_id_number TEXT, payee_name TEXT, bank_account TEXT, amount_fen INTEGER, "
    "paid_on TEXT, purpose TEXT, period TEXT, entry_seq INTEGER)",
    "CREATE TABLE entry (seq INTEGER PRIMARY KEY, idempotency_key TEXT, effective_date TEXT, kind TEXT, memo TEXT)",
    "CREATE TABLE posting (id INTEGER PRIMARY KEY, entry_seq INTEGER, account_id INTEGER, fund_id INTEGER, "
    "amount_fen INTEGER, party TEXT, effective_date TEXT)",
    "CREATE TABLE balance (account_id INTEGER, fund_id INTEGER, balance_fen INTEGER, "
    "PRIMARY KEY (account_id, fund_id))",
)


def _read(roll: Path) -> tuple[list[tuple], list[tuple], list[tuple], dict[str, int]]:
    """Parse the CSV: payment rows, entries and postings (debit the expense, credit the project)."""
    accounts: dict[str, int] = {}
    rows: list[tuple] = []
    entries: list[tuple] = []
    postings: list[tuple] = []
    with roll.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        col = {name: i for i, name in enumerate(next(reader))}
        i_ref, i_batch, i_project, i_hh, i_id, i_name, i_card, i_amount, i_day, i_purpose, i_period = (
            col[h] for h in HEADERS)
        for seq, r in enumerate(reader, start=1):
            project, day, hh, amount = r[i_project], r[i_day], r[i_hh], _fen(r[i_amount])
            debit = accounts.setdefault("Expenses:Subsidy:" + project, len(accounts) + 1)
            credit = accounts.setdefault("Assets:Project:" + project, len(accounts) + 1)
            rows.append((seq, r[i_ref], r[i_batch], project, hh, r[i_id], r[i_name], r[i_card], amount, day,
                         r[i_purpose], r[i_period], seq))
            entries.append((seq, "pay:" + r[i_ref], day, "subsidy_paid", f"{r[i_batch]} {r[i_name]} 产业补助"))
            postings.append((seq, debit, 1, amount, hh, day))
            postings.append((seq, credit, 1, -amount, None, day))
    return rows, entries, postings, accounts


def floor_main(db: Path, roll: Path) -> None:
    rows, entries, postings, accounts = _read(roll)
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    for stmt in FLOOR_SCHEMA:
        con.execute(stmt)
    con.execute("BEGIN IMMEDIATE")
    con.executemany("INSERT INTO account (id, code) VALUES (?, ?)", [(i, c) for c, i in accounts.items()])
    con.execute("INSERT INTO fund (id, code) VALUES (1, ?)", (FUND,))
    con.executemany("INSERT INTO payment_row VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    con.executemany("INSERT INTO entry VALUES (?, ?, ?, ?, ?)", entries)
    con.executemany("INSERT INTO posting (entry_seq, account_id, fund_id, amount_fen, party, effective_date) "
                    "VALUES (?, ?, ?, ?, ?, ?)", postings)
    con.execute("INSERT INTO balance SELECT account_id, fund_id, SUM(amount_fen) FROM posting "
                "GROUP BY account_id, fund_id")
    con.execute("COMMIT")
    con.close()


def schema_floor_main(db: Path, roll: Path, chunk: int) -> None:
    """The same rows into huimin's migrated schema (the set-up database) with raw sqlite3: no Python
    checks, household ids looked up by number, a plain SHA-256 of each line as the entry's hash."""
    with roll.open("rb") as fh:
        next(fh)
        raws = [line.rstrip(b"\r\n") for line in fh]
    file_hash = hashlib.sha256(roll.read_bytes()).hexdigest()
    rows, entries, _, _ = _read(roll)
    con = sqlite3.connect(db, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "temp_store=MEMORY",
                   "cache_size=-65536"):
        con.execute("PRAGMA " + pragma)
    con.execute("BEGIN IMMEDIATE")
    recorded = time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime())
    household = dict(con.execute("SELECT household_no, id FROM household"))
    project_id, project_account = con.execute("SELECT id, account_code FROM project WHERE project_code = ?",
                                              (PROJECT,)).fetchone()
    fund_id = con.execute("SELECT id FROM fund WHERE code = ?", (FUND,)).fetchone()[0]
    users = dict(con.execute("SELECT username, id FROM app_user"))
    maker, checker = users["system"], users[APPROVER_USER]
    credit = con.execute("SELECT id FROM account WHERE code = ?", (project_account,)).fetchone()[0]
    expense = f"Expenses:Subsidy:{INDUSTRY}"
    found = con.execute("SELECT id FROM account WHERE code = ?", (expense,)).fetchone()
    if found is None:
        debit = con.execute("INSERT INTO account (code, type, name_zh, name_en, opened_on, limit_kind) "
                            "VALUES (?, 'expense', ?, ?, ?, 'none') RETURNING id",
                            (expense, expense, expense, f"{YEAR}-01-01")).fetchone()[0]
    else:
        debit = found[0]
    head_seq, prev = con.execute("SELECT seq, hash FROM journal_head WHERE id = 1").fetchone()
    sizes: dict[str, list[int]] = {}
    for r in rows:
        size = sizes.setdefault(r[2], [0, 0])
        size[0] += 1
        size[1] += r[8]
    batches = {batch_no: con.execute(
        "INSERT INTO payment_batch (batch_no, project_id, purpose, status, declared_count, declared_total_fen, "
        "memo, is_history, is_reissue, source_sha256, prepared_by, prepared_at, disclosure_days, decided_by, "
        "decided_at) VALUES (?, ?, 'subsidy', 'posted', ?, ?, '', 1, 0, ?, ?, ?, 0, ?, ?) RETURNING id",
        (batch_no, project_id, count, total, file_hash, maker, recorded, checker, recorded)).fetchone()[0]
        for batch_no, (count, total) in sizes.items()}
    entry_rows, posting_rows, row_rows, history_rows = [], [], [], []
    for (seq0, key, day, kind, memo), r, raw in zip(entries, rows, raws, strict=True):
        seq = head_seq + seq0
        h = hashlib.sha256(prev.encode() + raw).hexdigest()
        entry_rows.append((seq, day, recorded, kind, memo, key, hashlib.sha256(raw).hexdigest(), None, maker,
                           checker, "pending", prev, h))
        prev = h
        amount = r[8]
        posting_rows.append((seq, debit, fund_id, amount, r[4], day))
        posting_rows.append((seq, credit, fund_id, -amount, None, day))
        row_rows.append((batches[r[2]], r[1], seq0 + 1, household[r[4]], r[5], r[6], r[7], amount, day, r[11],
                         "paid", seq, day))
        history_rows.append((seq, "payments", file_hash, seq0 + 1, maker, checker, recorded))
    p = 0
    for start in range(0, len(entry_rows), chunk):
        part = entry_rows[start:start + chunk]
        con.executemany("INSERT INTO entry (seq, effective_date, recorded_at, kind, memo, idempotency_key, "
                        "payload_hash, reverses, maker_id, checker_id, status, prev_hash, hash) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", part)
        con.executemany("INSERT INTO posting (entry_seq, account_id, fund_id, amount_fen, party, effective_date) "
                        "VALUES (?, ?, ?, ?, ?, ?)", posting_rows[p:p + 2 * len(part)])
        con.execute("UPDATE entry SET status = 'posted' WHERE seq BETWEEN ? AND ?", (part[0][0], part[-1][0]))
        p += 2 * len(part)
    con.executemany("INSERT INTO history_record (entry_seq, source, file_sha256, row_no, recorded_by, approved_by, "
                    "recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)", history_rows)
    con.executemany("INSERT INTO payment_row (batch_id, ref, row_no, household_id, payee_id_number, payee_name, "
                    "bank_account, amount_fen, paid_on, period, status, entry_seq, returned_on) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row_rows)
    # Balances: the new postings summed per (account, fund), added to the stored balance or stored new.
    for account, fund, fen, last in con.execute(
            "SELECT account_id, fund_id, SUM(amount_fen), MAX(entry_seq) FROM posting WHERE entry_seq > ? "
            "GROUP BY account_id, fund_id", (head_seq,)).fetchall():
        if con.execute("UPDATE balance SET balance_fen = balance_fen + ?, version = version + 1, last_seq = ? "
                       "WHERE account_id = ? AND fund_id = ?", (fen, last, account, fund)).rowcount == 0:
            con.execute("INSERT INTO balance (account_id, fund_id, balance_fen, version, last_seq, non_negative) "
                        "SELECT id, ?, ?, 1, ?, limit_kind = 'non_negative' FROM account WHERE id = ?",
                        (fund, fen, last, account))
    con.execute("UPDATE journal_head SET seq = ?, hash = ? WHERE id = 1", (head_seq + len(entry_rows), prev))
    con.execute("COMMIT")
    con.close()


# ---------------------------------------------------------------------------------------------
# Running and timing subprocesses


def copy_db(src: Path, dst: Path) -> Path:
    """A fresh copy of a checkpointed SQLite file (no -wal beside it)."""
    shutil.copyfile(src, dst)
    return dst


def remove_db(db: Path) -> None:
    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        path.unlink(missing_ok=True)


def checkpoint(db: Path) -> None:
    con = sqlite3.connect(db)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _log(quiet: bool, message: str) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def run_demo(huimin: str, tmp: Path, quiet: bool) -> dict:
    db = tmp / "demo.db"
    _log(quiet, "demo: huimin demo --scale county --seed 7 … (minutes)")
    r = run([huimin, "demo", "--scale", "county", "--seed", "7"], huimin_env(db), tmp, check=False)
    out = {"seconds": r.seconds, "cpu_seconds": r.cpu_seconds, "max_rss_mib": r.max_rss_mib, "ok": r.returncode == 0}
    if r.returncode != 0:
        out["error"] = _last_line(r.stderr) or _last_line(r.stdout) or f"exit {r.returncode}"
        return out
    out["built"] = counts(db, DEMO_TABLES)
    verdict = next((line for line in r.stdout.splitlines() if line.startswith("verify:")), "")
    out["verify"] = verdict.removeprefix("verify: ").strip()
    out["verify_ok"] = verdict.startswith("verify: ok")
    return out


def check_args(ap: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not MIN_ROWS <= args.rows <= MAX_ROWS:
        ap.error(f"--rows: {MIN_ROWS:,} to {MAX_ROWS:,} (one roll is one import call)")
    if args.households is None:
        args.households = max(MIN_ROWS // 4, args.rows // 4)
    if not 10 <= args.households <= min(MAX_HOUSEHOLDS, args.rows):
        ap.error(f"--households: 10 to {min(MAX_HOUSEHOLDS, args.rows):,} (at most --rows)")
    if math.ceil(args.rows / args.households) > MAX_PERIODS:
        ap.error(f"--rows / --households: at most {MAX_PERIODS} months per household (one payment a month)")
    if not 1 <= args.runs <= MAX_RUNS:
        ap.error(f"--runs: 1 to {MAX_RUNS}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=100_000, help=f"rows in the payment roll (at most {MAX_ROWS:,})")
    ap.add_argument("--households", type=int, default=None,
                    help="households in the registry, each paid once a month (default rows / 4: four months)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--runs", type=int, default=1, help="repeat the import, floors and dry run on fresh copies; "
                                                        "report medians (the demo runs once)")
    ap.add_argument("--skip-demo", action="store_true", help="skip `huimin demo --scale county`")
    ap.add_argument("--json", action="store_true", help="print the results as JSON instead of the table")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory and print it")
    ap.add_argument("--setup", metavar="SPEC", help=argparse.SUPPRESS)
    ap.add_argument("--floor", nargs=2, metavar=("DB", "FILE"), help=argparse.SUPPRESS)
    ap.add_argument("--schema-floor", nargs=2, metavar=("DB", "FILE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.setup:
        setup_main(json.loads(args.setup))
        return
    if args.floor:
        floor_main(Path(args.floor[0]), Path(args.floor[1]))
        return
    if args.schema_floor:
        schema_floor_main(Path(args.schema_floor[0]), Path(args.schema_floor[1]), 10_000)
        return
    check_args(ap, args)

    from ledger.imports.tabular import MAX_FILE_BYTES

    quiet = args.json
    huimin = str(BIN / "huimin")
    tmp = Path(tempfile.mkdtemp(prefix="huimin-county-bench-"))
    result: dict = {"machine": {"python": f"{platform.python_implementation()} {platform.python_version()}",
                                "sqlite": sqlite3.sqlite_version, "cores": os.cpu_count(),
                                "arch": platform.machine()}}
    try:
        demo = None if args.skip_demo else run_demo(huimin, tmp, quiet)

        # The payment roll: set-up through the services (not timed), then fresh copies for each side.
        base, roll, facts_path = tmp / "base.db", tmp / "roll.csv", tmp / "facts.json"
        _log(quiet, f"set-up: registry of {args.households:,} households, project, funds, roll of {args.rows:,} rows …")
        run([huimin, "db", "upgrade"], huimin_env(base), tmp)
        setup = run([sys.executable, SCRIPT, "--setup", json.dumps({
            "rows": args.rows, "households": args.households, "seed": args.seed, "roll": str(roll),
            "facts": str(facts_path)})], huimin_env(base), tmp)
        checkpoint(base)
        facts = json.loads(facts_path.read_text())
        n = facts["rows"]
        assert n == args.rows, facts
        size = roll.stat().st_size
        if size > MAX_FILE_BYTES:
            sys.exit(f"the roll is {size / (1 << 20):.1f} MiB, above the import's {MAX_FILE_BYTES >> 20} MiB limit")
        before = counts(base, ("entry", "posting"))
        result["workload"] = {"rows": n, "households": facts["households"], "persons": facts["persons"],
                              "months": facts["periods"], "total_yuan": facts["total"],
                              "csv_mib": round(size / (1 << 20), 2), "setup_seconds": round(setup.seconds, 2),
                              "entries_before": before["entry"]}

        imports: list[Run] = []
        floors: list[Run] = []
        schema_floors: list[Run] = []
        dries: list[Run] = []
        db = base
        for i in range(args.runs):
            _log(quiet, f"run {i + 1}/{args.runs}: huimin import payments --history …")
            if db != base:
                remove_db(db)  # the last run's database is kept for verify (and --keep)
            db = copy_db(base, tmp / f"huimin-{i}.db")
            r = run([huimin, "import", "payments", str(roll), "--history", "--approved-by", facts["approver"],
                     "--json"], huimin_env(db), tmp)
            report = json.loads(r.stdout)
            s = report["summary"]
            assert report["ok"] and s["rows_created"] == n and s["entries_posted"] == n, report
            imports.append(r)

            _log(quiet, f"run {i + 1}/{args.runs}: floor, schema floor, dry run …")
            floor_db = tmp / f"floor-{i}.db"
            floors.append(run([sys.executable, SCRIPT, "--floor", str(floor_db), str(roll)], dict(os.environ), tmp))
            assert counts(floor_db, ("payment_row", "entry", "posting")) == {
                "payment_row": n, "entry": n, "posting": 2 * n}

            schema_db = copy_db(base, tmp / f"schema-floor-{i}.db")
            schema_floors.append(run([sys.executable, SCRIPT, "--schema-floor", str(schema_db), str(roll)],
                                     dict(os.environ), tmp))
            assert counts(schema_db, ("payment_row", "entry", "posting", "history_record")) == {
                "payment_row": n, "entry": before["entry"] + n, "posting": before["posting"] + 2 * n,
                "history_record": n}

            dry_db = copy_db(base, tmp / f"dry-{i}.db")
            d = run([huimin, "import", "payments", str(roll), "--dry-run", "--count", str(n), "--total",
                     facts["total"], "--json"], huimin_env(dry_db), tmp)
            report = json.loads(d.stdout)
            assert report["ok"] and report["dry_run"] and report["summary"]["rows_created"] == n, report
            assert counts(dry_db, ("payment_row",)) == {"payment_row": 0}
            dries.append(d)
            for f in (floor_db, schema_db, dry_db):
                remove_db(f)

        assert counts(db, ("payment_row", "entry", "posting")) == {
            "payment_row": n, "entry": before["entry"] + n, "posting": before["posting"] + 2 * n}
        _log(quiet, "huimin verify …")
        v = run([huimin, "verify", "--json"], huimin_env(db), tmp, check=False)
        verdict = json.loads(v.stdout)

        def med(runs: list[Run]) -> dict:
            return {"seconds": statistics.median(r.seconds for r in runs),
                    "cpu_seconds": statistics.median(r.cpu_seconds for r in runs),
                    "max_rss_mib": max(r.max_rss_mib for r in runs)}

        steps = {"import": med(imports), "floor": med(floors), "schema_floor": med(schema_floors),
                 "dry_run": med(dries),
                 "verify": {"seconds": v.seconds, "cpu_seconds": v.cpu_seconds, "max_rss_mib": v.max_rss_mib}}
        for name in ("import", "floor", "schema_floor", "dry_run"):
            steps[name]["rows_per_second"] = n / steps[name]["seconds"]
        t_import, t_floor = steps["import"]["seconds"], steps["floor"]["seconds"]
        result.update(runs=args.runs, demo=demo, steps=steps, ratio=t_import / t_floor,
                      cpu_ratio=steps["import"]["cpu_seconds"] / steps["floor"]["cpu_seconds"],
                      schema_floor_ratio=steps["schema_floor"]["seconds"] / t_floor,
                      verify={"ok": verdict["ok"], "entries_checked": verdict["entries_checked"],
                              "head_seq": verdict["head_seq"]})
        if args.json:
            print(json.dumps(_rounded(result), indent=2, ensure_ascii=False))
        else:
            print_table(result)
        if not verdict["ok"] or (demo is not None and not demo["ok"]):
            sys.exit(1)
    finally:
        if args.keep:
            print(f"\nfiles kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _rounded(value: object) -> object:
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def print_table(res: dict) -> None:
    m, w, demo, steps = res["machine"], res["workload"], res["demo"], res["steps"]
    print(f"machine:  {m['python']}, SQLite {m['sqlite']}, {m['cores']} cores, {m['arch']}")
    if demo is not None:
        print("\ncounty demo: huimin demo --scale county --seed 7 (one run)")
        print(f"  {demo['seconds']:.1f} s wall, {demo['cpu_seconds']:.1f} s CPU, "
              f"peak RSS {demo['max_rss_mib']:.0f} MiB")
        if demo["ok"]:
            print("  built: " + ", ".join(f"{k} {v:,}" for k, v in demo["built"].items()))
            print(f"  verify: {demo['verify']}")
        else:
            print(f"  FAILED: {demo['error']}")
    print(f"\npayment roll: {w['rows']:,} rows = {w['households']:,} households × {w['months']} months "
          f"(¥{w['total_yuan']}, {w['csv_mib']:.1f} MiB CSV); registry {w['persons']:,} persons; "
          f"{w['entries_before']} entries before; set-up {w['setup_seconds']:.0f} s (not timed)")
    print("every side reads and parses the CSV itself; every time includes its process start\n")
    runs = f" (median of {res['runs']})" if res["runs"] > 1 else ""
    names = {"import": "huimin import payments --history", "floor": "floor: sqlite3 executemany + GROUP BY",
             "schema_floor": "schema floor: same, into huimin's schema",
             "dry_run": "huimin import payments --dry-run", "verify": "huimin verify (after the import)"}
    print(f"{'step' + runs:<42} {'wall s':>8} {'CPU s':>8} {'peak RSS':>10} {'rows/s':>9}")
    for key, name in names.items():
        s = steps[key]
        rate = f"{s['rows_per_second']:>9,.0f}" if "rows_per_second" in s else f"{'':>9}"
        print(f"{name:<42} {s['seconds']:>8.2f} {s['cpu_seconds']:>8.2f} {s['max_rss_mib']:>6.0f} MiB {rate}")
    print()
    print(f"ratio import / floor:        {res['ratio']:5.2f}×  (target ≤ 2×; in CPU seconds {res['cpu_ratio']:.2f}×)")
    print(f"ratio schema floor / floor:  {res['schema_floor_ratio']:5.2f}×  (what the schema alone costs)")
    v = res["verify"]
    print(f"verify: {'ok' if v['ok'] else 'FAILED'} — {v['entries_checked']:,} entries checked, head {v['head_seq']}")


if __name__ == "__main__":
    main()
