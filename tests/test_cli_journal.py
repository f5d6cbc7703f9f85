"""The `huimin` command run for real (a subprocess per call) on every database lane.

Covers `journal import` (good file, idempotent re-import, `--open`, a bad file whose every error
is listed with its line number while nothing is written, an overdraw in the middle of a file, an
empty file), `report trial-balance` (JSON shape, `--as-of`), `journal reverse`, `period close` and
`verify` exit codes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import func, select, text

from ledger import services
from ledger.db import read_only, unit_of_work
from ledger.journal import ACCOUNT, BALANCE, ENTRY, FUND, HEAD, POSTING
from ledger.models import AuditLog, PeriodClose
from ledger.permissions import SYSTEM

AUDIT = AuditLog.__table__
PERIOD = PeriodClose.__table__


def huimin(db_url: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HUIMIN_DATABASE_URL": db_url, "PYTHONIOENCODING": "utf-8", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "ledger.cli", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, encoding="utf-8", timeout=120)


def as_json(proc: subprocess.CompletedProcess[str]) -> dict:
    assert proc.stdout.strip(), proc.stderr
    return json.loads(proc.stdout)


def snapshot(engine) -> dict[str, object]:
    """Everything an import could write: row counts, the chain head, every stored balance."""
    with read_only(engine) as s:
        out: dict[str, object] = {
            name: s.execute(select(func.count()).select_from(table)).scalar_one()
            for name, table in (("entries", ENTRY), ("postings", POSTING), ("accounts", ACCOUNT), ("funds", FUND),
                                ("balances", BALANCE), ("audit", AUDIT), ("periods", PERIOD))
        }
        out["head"] = tuple(s.execute(select(HEAD.c.seq, HEAD.c.hash)).one())
        out["balance_rows"] = sorted(tuple(r) for r in s.execute(
            select(BALANCE.c.account_id, BALANCE.c.fund_id, BALANCE.c.balance_fen, BALANCE.c.version)))
    return out


def posting(account: str, fund: str, amount: object, **extra: object) -> dict:
    return {"account": account, "fund": fund, "amount": amount, **extra}


def line(key: str, date: str, kind: str, postings: list[dict], memo: str = "") -> dict:
    return {"key": key, "date": date, "kind": kind, "memo": memo, "postings": postings}


def write_lines(path: Path, lines: list[object]) -> Path:
    """dicts become JSON lines; strings are written as they are (for broken lines)."""
    with path.open("w", encoding="utf-8") as fh:
        for obj in lines:
            fh.write(obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False))
            fh.write("\n")
    return path


POOL, HOT, ROSE = "Assets:Treasury:Pool", "Assets:Project:HOT", "Expenses:Subsidy:Rose"

GOOD = [
    line("r1", "2026-01-05", "fund_received", [posting(POOL, "CENTRAL", "1000.00"),
                                               posting("Income:Transfer:CENTRAL", "CENTRAL", "-1000.00")], "资金到位"),
    line("r2", "2026-01-05", "fund_received", [posting(POOL, "REGION", "500.00"),
                                               posting("Income:Transfer:REGION", "REGION", "-500.00")]),
    line("a1", "2026-01-06", "allocation", [posting(HOT, "CENTRAL", "600.00"), posting(POOL, "CENTRAL", "-600.00")]),
    line("p1", "2026-02-10", "subsidy_paid", [posting(ROSE, "CENTRAL", "12.34", party="H00000001"),
                                              posting(HOT, "CENTRAL", "-12.34")], "玫瑰花 产业补助"),
]


def import_good(engine, tmp_path: Path) -> None:
    """Set-up in-process (the CLI import itself is exercised below): entries 1..4."""
    report = services.import_journal(engine, SYSTEM, write_lines(tmp_path / "setup.jsonl", GOOD), open_missing=True)
    assert report.ok and report.posted == len(GOOD), report.problems


def huimin_many(db_url: str, calls: list[list[str]], cwd: Path) -> list[subprocess.CompletedProcess[str]]:
    """Independent calls (refusals, reads) side by side: each one is a whole Python start-up."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda args: huimin(db_url, *args, cwd=cwd), calls))


# ---------------------------------------------------------------------------------------------
# journal import


def test_good_file_imports_and_reimport_adds_nothing(db_url, engine, tmp_path):
    path = write_lines(tmp_path / "good.jsonl", GOOD)
    before = snapshot(engine)
    proc = huimin(db_url, "journal", "import", str(path), "--open", "--json", cwd=tmp_path)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    report = as_json(proc)
    assert report == {"ok": True, "lines": 4, "posted": 4, "already_posted": 0, "accounts_opened": 5,
                      "funds_opened": 2}
    after = snapshot(engine)
    assert after["entries"] == before["entries"] + 4 and after["postings"] == 8
    assert after["head"][0] == 4

    # The same file again: nothing new, every line reported as already posted.
    proc = huimin(db_url, "journal", "import", str(path), "--open", "--json", cwd=tmp_path)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert as_json(proc) == {"ok": True, "lines": 4, "posted": 0, "already_posted": 4, "accounts_opened": 0,
                             "funds_opened": 0}
    again = snapshot(engine)
    for name in ("entries", "postings", "accounts", "funds", "balances", "head", "balance_rows"):
        assert again[name] == after[name], name

    # Human output says so too; a file overlapping the journal posts only its new lines.
    more = GOOD + [line("p2", "2026-02-11", "subsidy_paid", [posting(ROSE, "CENTRAL", "1.00"),
                                                            posting(HOT, "CENTRAL", "-1.00")])]
    proc = huimin(db_url, "journal", "import", str(write_lines(tmp_path / "more.jsonl", more)), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "1 entries posted, 4 already posted" in proc.stdout
    assert snapshot(engine)["entries"] == after["entries"] + 1


def test_unknown_accounts_and_funds_need_open(db_url, engine, tmp_path):
    import_good(engine, tmp_path)
    before = snapshot(engine)
    path = write_lines(tmp_path / "new.jsonl", [
        line("n1", "2026-03-01", "subsidy_paid", [posting("Expenses:Subsidy:Grape", "CENTRAL", "5.00"),
                                                  posting(HOT, "CENTRAL", "-5.00")]),
        line("n2", "2026-03-02", "fund_received", [posting(POOL, "TJ-AID", "7.00"),
                                                   posting("Income:Transfer:TJ-AID", "TJ-AID", "-7.00")]),
    ])
    proc = huimin(db_url, "journal", "import", str(path), "--json", cwd=tmp_path)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    errors = as_json(proc)["errors"]
    found = {(e["row"], e["column"], e["value"]) for e in errors}
    assert found == {(1, "account", "Expenses:Subsidy:Grape"), (2, "account", "Income:Transfer:TJ-AID"),
                     (2, "fund", "TJ-AID")}
    assert all("unknown" in e["message"] and "--open" in e["message"] for e in errors)
    assert snapshot(engine) == before

    proc = huimin(db_url, "journal", "import", str(path), "--open", "--json", cwd=tmp_path)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    report = as_json(proc)
    assert (report["posted"], report["accounts_opened"], report["funds_opened"]) == (2, 2, 1)
    with read_only(engine) as s:
        acct = s.execute(select(ACCOUNT.c.type, ACCOUNT.c.opened_on, ACCOUNT.c.limit_kind)
                         .where(ACCOUNT.c.code == "Expenses:Subsidy:Grape")).one()
        assert tuple(acct) == ("expense", dt.date(2026, 3, 1), "none")
        assert s.execute(select(ACCOUNT.c.type).where(ACCOUNT.c.code == "Income:Transfer:TJ-AID")).scalar_one() \
            == "income"
        assert s.execute(select(FUND.c.code).where(FUND.c.code == "TJ-AID")).scalar_one() == "TJ-AID"


BAD_ROWS = {2, 3, 4, 5, 6, 7, 9, 10, 11}


def bad_file(tmp_path: Path) -> Path:
    pay = "subsidy_paid"
    return write_lines(tmp_path / "bad.jsonl", [
        # 1: fine, and would open a new account
        line("b1", "2026-03-01", "allocation", [posting("Assets:Project:NEW", "CENTRAL", "10.00"),
                                                posting(POOL, "CENTRAL", "-10.00")]),
        # 2: balances overall but not within each fund
        line("b2", "2026-03-01", "migrated", [posting(POOL, "CENTRAL", "5.00"),
                                              posting("Income:Transfer:REGION", "REGION", "-5.00")]),
        # 3: three decimals
        line("b3", "2026-03-01", pay, [posting(ROSE, "CENTRAL", "1.234"), posting(HOT, "CENTRAL", "-1.234")]),
        # 4: a JSON number, not a decimal string
        line("b4", "2026-03-01", pay, [posting(ROSE, "CENTRAL", 12.5), posting(HOT, "CENTRAL", "-12.50")]),
        # 5: no such month
        line("b5", "2026-13-01", pay, [posting(ROSE, "CENTRAL", "1.00"), posting(HOT, "CENTRAL", "-1.00")]),
        # 6, 7: account codes Beancount would refuse
        line("b6", "2026-03-01", pay, [posting("assets:cash", "CENTRAL", "1.00"), posting(HOT, "CENTRAL", "-1.00")]),
        line("b7", "2026-03-01", pay, [posting("Assets:现金", "CENTRAL", "1.00"), posting(HOT, "CENTRAL", "-1.00")]),
        # 8: fine; 9: its key again with a different payload
        line("dup", "2026-03-02", pay, [posting(ROSE, "CENTRAL", "2.00"), posting(HOT, "CENTRAL", "-2.00")]),
        line("dup", "2026-03-02", pay, [posting(ROSE, "CENTRAL", "3.00"), posting(HOT, "CENTRAL", "-3.00")]),
        # 10: the key of an entry already posted, with a different payload
        line("r1", "2026-01-05", "fund_received", [posting(POOL, "CENTRAL", "999.00"),
                                                   posting("Income:Transfer:CENTRAL", "CENTRAL", "-999.00")]),
        # 11: not JSON at all
        '{"key": "b11", "date": "2026-03-01", "kind": ',
        # 12: fine, and would open a new fund and account
        line("b12", "2026-03-03", "fund_received", [posting(POOL, "NEWFUND", "1.00"),
                                                    posting("Income:Transfer:NEWFUND", "NEWFUND", "-1.00")]),
    ])


def test_bad_file_lists_every_error_and_writes_nothing(db_url, engine, tmp_path):
    import_good(engine, tmp_path)
    before = snapshot(engine)
    path = bad_file(tmp_path)

    proc, human = huimin_many(db_url, [["journal", "import", str(path), "--open", "--json"],
                                       ["journal", "import", str(path)]], cwd=tmp_path)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    out = as_json(proc)
    assert out["ok"] is False
    errors = out["errors"]
    for e in errors:
        assert {"row", "column", "value", "message"} <= set(e), e
        assert isinstance(e["row"], int) and isinstance(e["message"], str) and e["message"]
    assert {e["row"] for e in errors} == BAD_ROWS  # every bad line, and no good one
    assert [e["row"] for e in errors] == sorted(e["row"] for e in errors)
    by_row: dict[int, list[dict]] = {}
    for e in errors:
        by_row.setdefault(e["row"], []).append(e)

    def has(row: int, column: str, value: str | None = None, words: str = "") -> None:
        assert any(e["column"] == column and (value is None or e["value"] == value) and words in e["message"]
                   for e in by_row[row]), (row, by_row[row])

    has(2, "postings", "CENTRAL", "sum to 5.00")
    has(2, "postings", "REGION", "sum to -5.00")
    has(3, "postings[0].amount", "1.234")
    has(4, "postings[0].amount", "12.5", "decimal string")
    has(5, "date", "2026-13-01")
    has(6, "postings[0].account", "assets:cash")
    has(7, "postings[0].account", "Assets:现金")
    has(9, "key", "dup", "line 8")
    has(10, "key", "r1", "already posted")
    has(11, "line", None, "not JSON")

    # Without --open the unknown account and fund are errors too, on top of every line above.
    assert human.returncode == 2
    assert human.stdout == ""
    for n in BAD_ROWS | {1, 12}:
        assert f"line {n}:" in human.stderr, n
    assert "line 8:" not in human.stderr
    assert "nothing was written" in human.stderr
    assert snapshot(engine) == before  # nothing written: no entry, account, fund, balance or audit row


def test_overdraw_in_the_middle_refuses_the_whole_file(db_url, engine, tmp_path):
    import_good(engine, tmp_path)  # HOT holds 587.66 in CENTRAL, the pool 400.00
    before = snapshot(engine)
    pay = "subsidy_paid"
    lines = [
        line("o1", "2026-03-01", pay, [posting("Expenses:Subsidy:Grape", "CENTRAL", "400.00"),
                                       posting(HOT, "CENTRAL", "-400.00")]),
        line("o2", "2026-03-02", pay, [posting("Expenses:Subsidy:Grape", "CENTRAL", "300.00"),
                                       posting(HOT, "CENTRAL", "-300.00")]),
        line("o3", "2026-03-03", "allocation", [posting(HOT, "CENTRAL", "300.00"),
                                                posting(POOL, "CENTRAL", "-300.00")]),
    ]
    proc = huimin(db_url, "journal", "import", str(write_lines(tmp_path / "over.jsonl", lines)), "--open", "--json",
                  cwd=tmp_path)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    errors = as_json(proc)["errors"]
    assert [e["row"] for e in errors] == [2]
    assert HOT in errors[0]["message"] and "-112.34" in errors[0]["message"]
    assert snapshot(engine) == before  # the new expense account was not opened either

    # The same lines in an order that never overdraws are fine: the limit is checked line by line.
    lines = [lines[0], lines[2], lines[1]]
    proc = huimin(db_url, "journal", "import", str(write_lines(tmp_path / "fine.jsonl", lines)), "--open", "--json",
                  cwd=tmp_path)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert as_json(proc)["posted"] == 3


def test_empty_or_missing_file_is_a_clear_error(db_url, engine, tmp_path):
    before = snapshot(engine)
    (tmp_path / "empty.jsonl").write_text("", encoding="utf-8")
    (tmp_path / "blank.jsonl").write_text("\n  \n\n", encoding="utf-8")
    empty, blank, missing = huimin_many(db_url, [
        ["journal", "import", str(tmp_path / "empty.jsonl"), "--json"],
        ["journal", "import", str(tmp_path / "blank.jsonl"), "--json", "--open"],
        ["journal", "import", str(tmp_path / "missing.jsonl")],
    ], cwd=tmp_path)
    for proc in (empty, blank):
        assert proc.returncode == 2
        out = as_json(proc)
        assert out["ok"] is False and len(out["errors"]) == 1
        assert "no entries" in out["errors"][0]["message"]
    assert missing.returncode == 2
    assert "missing.jsonl" in missing.stderr and "cannot read" in missing.stderr
    assert snapshot(engine) == before


# ---------------------------------------------------------------------------------------------
# report trial-balance


def test_trial_balance_json_and_as_of(db_url, engine, tmp_path):
    import_good(engine, tmp_path)
    now, jan5, bad, human = huimin_many(db_url, [
        ["report", "trial-balance", "--json"],
        ["report", "trial-balance", "--as-of", "2026-01-05", "--json"],
        ["report", "trial-balance", "--as-of", "2026-02-30", "--json"],
        ["report", "trial-balance"],
    ], cwd=tmp_path)

    assert now.returncode == 0, now.stderr
    tb = as_json(now)
    assert set(tb) == {"as_of", "rows"}
    today = dt.date.today()
    assert tb["as_of"] in {today.isoformat(), (today - dt.timedelta(days=1)).isoformat()}  # default: today
    assert all(set(r) == {"account", "fund", "balance"} for r in tb["rows"])
    assert tb["rows"] == sorted(tb["rows"], key=lambda r: (r["account"], r["fund"]))
    got = {(r["account"], r["fund"]): r["balance"] for r in tb["rows"]}
    assert got == {(HOT, "CENTRAL"): "587.66", (POOL, "CENTRAL"): "400.00", (POOL, "REGION"): "500.00",
                   (ROSE, "CENTRAL"): "12.34", ("Income:Transfer:CENTRAL", "CENTRAL"): "-1000.00",
                   ("Income:Transfer:REGION", "REGION"): "-500.00"}

    assert jan5.returncode == 0, jan5.stderr
    tb = as_json(jan5)
    assert tb["as_of"] == "2026-01-05"
    assert {(r["account"], r["fund"]): r["balance"] for r in tb["rows"]} == {
        (POOL, "CENTRAL"): "1000.00", (POOL, "REGION"): "500.00",
        ("Income:Transfer:CENTRAL", "CENTRAL"): "-1000.00", ("Income:Transfer:REGION", "REGION"): "-500.00"}

    assert bad.returncode == 2 and "2026-02-30" in bad.stderr
    assert human.returncode == 0
    assert HOT in human.stdout and "587.66" in human.stdout and "total" in human.stdout


# ---------------------------------------------------------------------------------------------
# journal reverse, period close, verify


def test_reverse_and_period_close(db_url, engine, tmp_path):
    import_good(engine, tmp_path)  # entries 1..4; entry 4 pays 12.34 from HOT

    proc = huimin(db_url, "journal", "reverse", "4", "--key", "rev-4", "--date", "2026-02-20", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "entry 5 reverses entry 4" in proc.stdout

    before = snapshot(engine)
    retry, *refused = huimin_many(db_url, [
        ["journal", "reverse", "4", "--key", "rev-4", "--date", "2026-02-20"],  # a retry: same key, same payload
        ["journal", "reverse", "4", "--key", "rev-4b", "--date", "2026-02-21"],
        ["journal", "reverse", "99", "--key", "rev-99", "--date", "2026-02-21"],
        ["journal", "reverse", "3", "--key", "rev-3", "--date", "2026-02-30"],
        ["period", "close", "2026-13"],
    ], cwd=tmp_path)
    assert retry.returncode == 0, retry.stderr
    assert "entry 5 reverses entry 4 (already posted)" in retry.stdout
    words = ["already reversed", "no such entry", "not a date", "YYYY-MM"]
    for proc, w in zip(refused, words, strict=True):
        assert proc.returncode == 2, (proc.args, proc.stdout, proc.stderr)
        assert w in proc.stderr, (proc.args, proc.stderr)
    after = snapshot(engine)
    for name in ("entries", "postings", "balances", "head", "balance_rows", "periods"):
        assert after[name] == before[name], name
    with read_only(engine) as s:
        assert s.execute(select(ENTRY.c.reverses, ENTRY.c.kind).where(ENTRY.c.seq == 5)).one() == (4, "reversal")
        assert s.execute(select(BALANCE.c.balance_fen).join(ACCOUNT, ACCOUNT.c.id == BALANCE.c.account_id)
                         .where(ACCOUNT.c.code == HOT)).scalar_one() == 60_000

    proc = huimin(db_url, "period", "close", "2026-01", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "2026-01 closed" in proc.stdout
    closed = snapshot(engine)
    assert closed["periods"] == 1 and closed["audit"] == after["audit"] + 1

    # Nothing more can be dated in January: not a reversal, not an imported line. February is open.
    path = write_lines(tmp_path / "late.jsonl", [
        line("late-1", "2026-02-01", "allocation", [posting(HOT, "REGION", "1.00"), posting(POOL, "REGION", "-1.00")]),
        line("late-2", "2026-01-15", "allocation", [posting(HOT, "REGION", "1.00"), posting(POOL, "REGION", "-1.00")]),
    ])
    again, late_reverse, late_import, february = huimin_many(db_url, [
        ["period", "close", "2026-01"],
        ["journal", "reverse", "2", "--key", "rev-2", "--date", "2026-01-31"],
        ["journal", "import", str(path), "--json"],
        ["journal", "reverse", "3", "--key", "rev-3", "--date", "2026-02-01"],
    ], cwd=tmp_path)
    assert again.returncode == 2 and "already closed" in again.stderr
    assert late_reverse.returncode == 2 and "closed" in late_reverse.stderr
    assert late_import.returncode == 2
    errors = as_json(late_import)["errors"]
    assert [(e["row"], e["column"], e["value"]) for e in errors] == [(2, "date", "2026-01")]
    assert "closed" in errors[0]["message"]
    assert february.returncode == 0, february.stderr
    final = snapshot(engine)
    assert (final["entries"], final["periods"], final["head"][0]) == (closed["entries"] + 1, 1, 6)


def test_verify_exit_codes(db_url, engine, tmp_path):
    import_good(engine, tmp_path)
    proc = huimin(db_url, "verify", "--json", cwd=tmp_path)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    out = as_json(proc)
    assert out["ok"] is True and out["entries_checked"] == 4 and out["head_seq"] == 4 and out["first_bad_seq"] is None

    # A stored balance changed behind the application's back: verify names the entry that last touched it.
    with unit_of_work(engine) as s:
        hot_id = s.execute(select(ACCOUNT.c.id).where(ACCOUNT.c.code == HOT)).scalar_one()
        s.execute(text("UPDATE balance SET balance_fen = balance_fen + 1 WHERE account_id = :a"), {"a": hot_id})
    as_json_proc, human = huimin_many(db_url, [["verify", "--json"], ["verify"]], cwd=tmp_path)
    assert as_json_proc.returncode == 1, (as_json_proc.stdout, as_json_proc.stderr)
    out = as_json(as_json_proc)
    assert out["ok"] is False and out["first_bad_seq"] == 4 and HOT in out["message"]
    assert human.returncode == 1 and "FAILED at entry 4" in human.stdout
