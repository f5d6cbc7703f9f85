"""The `huimin` command (Typer). Exit codes: 0 ok, 1 a check failed (verify), 2 bad input or usage.

Every command acts as the `system` actor: whoever runs the command holds the database.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import typer

from ledger import services
from ledger.db import get_engine
from ledger.journal import LedgerRefusal
from ledger.money import format_yuan
from ledger.permissions import SYSTEM, PermissionDenied
from ledger.settings import get_settings

app = typer.Typer(help="惠民账本 Huimin Ledger — subsidy and microcredit ledger", no_args_is_help=True,
                  add_completion=False)
db_app = typer.Typer(help="Database schema (Alembic)", no_args_is_help=True)
journal_app = typer.Typer(help="The journal: import, reverse, digest", no_args_is_help=True)
report_app = typer.Typer(help="Reports", no_args_is_help=True)
export_app = typer.Typer(help="Exports", no_args_is_help=True)
period_app = typer.Typer(help="Accounting periods", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(journal_app, name="journal")
app.add_typer(report_app, name="report")
app.add_typer(export_app, name="export")
app.add_typer(period_app, name="period")

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _date(text: str | None, name: str) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        typer.echo(f"error: {name} {text!r} is not a date (YYYY-MM-DD)", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None


def _engine():
    """The database, refused with a clear message (exit 2) when it is not migrated to the newest revision."""
    from ledger.migrate import schema_problem

    engine = get_engine()
    problem = schema_problem(engine)
    if problem:
        typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT)
    return engine


def _usage(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def _fail(exc: Exception, as_json: bool = False) -> None:
    if isinstance(exc, LedgerRefusal):
        if as_json:
            typer.echo(json.dumps({"ok": False, "errors": [p.as_dict() for p in exc.problems]}, ensure_ascii=False))
        else:
            for p in exc.problems:
                typer.echo(f"error: {p}", err=True)
    else:
        typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the newest revision (alembic upgrade head)."""
    from ledger.migrate import upgrade

    upgrade(get_settings().database_url)
    typer.echo("database is at the newest revision")


townships_app = typer.Typer(help="Townships (乡镇) of the county", no_args_is_help=True)
app.add_typer(townships_app, name="townships")


@townships_app.command("add")
def townships_add(code: str = typer.Argument(...), name: str = typer.Argument(...),
                  kind: str = typer.Option(None, "--kind", help="xiang 乡 | zhen 镇 (default: from the name)")) -> None:
    """Register a township (乡/镇); villages come with the households import (--create-villages)."""
    from ledger import registry

    try:
        out = registry.upsert_townships(_engine(), SYSTEM, [registry.TownshipIn(code, name, kind)])
    except (LedgerRefusal, PermissionDenied) as exc:
        _fail(exc)
    typer.echo(f"township {code} {name}: " + ", ".join(f"{k} {v}" for k, v in out.as_dict().items()))


@app.command("import")
def import_file(
    kind: str = typer.Argument(..., help="template: households | persons | officials | reference | "
                              "funds | projects | allocations | payments | posts"),
    file: Path = typer.Argument(..., help="CSV (UTF-8 or GBK) or XLSX, header in row 1 (English or Chinese)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="check everything, write nothing"),
    as_json: bool = typer.Option(False, "--json"),
    create_villages: bool = typer.Option(False, "--create-villages", help="register villages the file names"),
    errors_to: Path = typer.Option(None, "--errors", help="on failure, write the sheet with an error column here"),
    history: bool = typer.Option(False, "--history", help="funds, allocations, payments already done before "
                                 "Huimin: recorded as done on their own dates (needs --approved-by)"),
    approved_by: str = typer.Option(None, "--approved-by", help="with --history: the user who approved them"),
    declared_count: int = typer.Option(None, "--count", help="payments: the roll's declared number of rows"),
    declared_total: str = typer.Option(None, "--total", help="payments: the roll's declared sum in yuan"),
) -> None:
    """Import an officer's spreadsheet: all of it, or (on any bad row) none of it."""
    from ledger.history import HistoryMark, file_sha256
    from ledger.imports.files import Declared, write_error_sheet
    from ledger.imports.files import import_file as run
    from ledger.money import parse_yuan_strict

    if history != (approved_by is not None):
        _usage("--history and --approved-by USER go together")
    mark = HistoryMark(approved_by, file_sha256(file)) if history and file.is_file() else None
    declared = None
    if declared_count is not None or declared_total is not None:
        if declared_count is None or declared_total is None:
            _usage("--count and --total go together: the roll's number of rows and its sum")
        try:
            declared = Declared(declared_count, parse_yuan_strict(declared_total))
        except ValueError as exc:
            _usage(f"--total {declared_total!r}: {exc}")
    try:
        report = run(_engine(), SYSTEM, kind, file, dry_run=dry_run, create_villages=create_villages,
                     history=mark, declared=declared)
    except PermissionDenied as exc:
        _fail(exc)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False, default=str))
    elif report.ok:
        done = "would be imported (dry run, nothing written)" if dry_run else "imported"
        typer.echo(f"{report.rows:,} rows {done}: " + ", ".join(f"{k} {v}" for k, v in report.summary.items()))
        for w in report.warnings:
            typer.echo(f"warning: row {w.row}: {w.field}={w.value!r}: {w.message}", err=True)
    else:
        for p in report.problems:
            where = f"row {p.row}" if p.row else p.where
            typer.echo(f"error: {where}: {p.field}={p.value!r}: {p.message}", err=True)
        typer.echo("nothing was written", err=True)
    if not report.ok and errors_to is not None and file.exists():
        write_error_sheet(file, report, errors_to)
        if not as_json:
            typer.echo(f"the sheet with an error column is in {errors_to}", err=True)
    raise typer.Exit(EXIT_OK if report.ok else EXIT_BAD_INPUT)


@journal_app.command("import")
def journal_import(
    file: Path = typer.Argument(..., help="JSON Lines, one entry a line"),
    open_missing: bool = typer.Option(False, "--open", help="open unknown accounts and funds"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Post entries from a JSON Lines file: all of it, or (on any bad line) none of it."""
    engine = _engine()
    progress = None
    if not as_json and sys.stderr.isatty():
        def progress(done: int) -> None:
            typer.echo(f"\r  posted {done:,} entries …", nl=False, err=True)
    report = services.import_journal(engine, SYSTEM, file, open_missing=open_missing, progress=progress)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False))
    elif report.ok:
        typer.echo(f"{report.lines:,} lines: {report.posted:,} entries posted, {report.already_posted:,} already "
                   f"posted; {report.accounts_opened} accounts and {report.funds_opened} funds opened")
    else:
        for p in report.problems:
            typer.echo(f"error: {p}", err=True)
        if report.more_problems:
            typer.echo(f"… and {report.more_problems} more errors", err=True)
        typer.echo("nothing was written", err=True)
    raise typer.Exit(EXIT_OK if report.ok else EXIT_BAD_INPUT)


@journal_app.command("reverse")
def journal_reverse(
    seq: int = typer.Argument(..., help="the entry to reverse"),
    key: str = typer.Option(..., "--key", help="idempotency key of the reversal"),
    on: str = typer.Option(None, "--date", help="effective date (default today)"),
    memo: str = typer.Option("", "--memo"),
) -> None:
    """Post the reversal of an entry (every posting negated, linked to the original)."""
    day = _date(on, "--date") or dt.date.today()
    try:
        posted = services.reverse_entry(_engine(), SYSTEM, seq, key, day, memo)
    except (LedgerRefusal, PermissionDenied) as exc:
        _fail(exc)
    typer.echo(f"entry {posted.seq} reverses entry {seq}" + ("" if posted.created else " (already posted)"))


@journal_app.command("digest")
def journal_digest() -> None:
    """Print the chain head (seq and hash) for an auditor to keep."""
    typer.echo(json.dumps(services.chain_digest(_engine(), SYSTEM)))


@app.command("verify")
def verify(
    as_json: bool = typer.Option(False, "--json"),
    digest: str = typer.Option(None, "--digest", help="SEQ:HASH kept from an earlier `journal digest`"),
) -> None:
    """Recompute the hash chain and every stored balance; exit 1 naming the first entry that disagrees."""
    engine = _engine()
    result = services.verify_journal(engine, SYSTEM)
    out = result.as_dict()
    ok = result.ok
    if digest:
        try:
            seq_text, want = digest.split(":", 1)
            seq = int(seq_text)
        except ValueError:
            typer.echo("error: --digest must be SEQ:HASH", err=True)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        have = services.entry_hash_at(engine, SYSTEM, seq)
        out["digest_ok"] = have == want
        if have != want:
            ok = False
            out["message"] = f"entry {seq} no longer has the hash in the digest: history was rewritten"
            out["first_bad_seq"] = seq
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False))
    elif ok:
        typer.echo(f"ok: {result.entries_checked:,} entries, chain head {result.head_seq} {result.head_hash}")
    else:
        typer.echo(f"FAILED at entry {out['first_bad_seq']}: {out['message']}")
    raise typer.Exit(EXIT_OK if ok else EXIT_CHECK_FAILED)


@report_app.command("trial-balance")
def report_trial_balance(
    as_of: str = typer.Option(None, "--as-of", help="YYYY-MM-DD (default: now)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Balances per account and fund, debit positive."""
    # Default: as of today, so an entry dated in the future is not counted before its day.
    day = _date(as_of, "--as-of") or dt.date.today()
    rows = services.trial_balance(_engine(), SYSTEM, day)
    if as_json:
        typer.echo(json.dumps({
            "as_of": day.isoformat(),
            "rows": [{"account": r.account, "fund": r.fund, "balance": format_yuan(r.balance_fen)} for r in rows],
        }, ensure_ascii=False))
        return
    width = max([len(r.account) for r in rows] + [7])
    typer.echo(f"{'account':<{width}}  {'fund':<16} {'balance':>18}")
    for r in rows:
        typer.echo(f"{r.account:<{width}}  {r.fund:<16} {format_yuan(r.balance_fen):>18}")
    typer.echo(f"{'total':<{width}}  {'':<16} {format_yuan(sum(r.balance_fen for r in rows)):>18}")


@export_app.command("beancount")
def export_beancount(file: Path = typer.Argument(...)) -> None:
    """Write the journal as a Beancount file (`bean-check` accepts it)."""
    n = services.export_beancount(_engine(), SYSTEM, file)
    typer.echo(f"{n:,} transactions written to {file}")


@period_app.command("close")
def period_close(month: str = typer.Argument(..., help="YYYY-MM")) -> None:
    """Close a month: no entry may be posted with an effective date inside it afterwards."""
    try:
        services.close_period(_engine(), SYSTEM, month)
    except (LedgerRefusal, PermissionDenied) as exc:
        _fail(exc)
    typer.echo(f"period {month} closed")


posts_app = typer.Typer(help="Public-welfare posts (公益性岗位) and their monthly wage roll", no_args_is_help=True)
app.add_typer(posts_app, name="posts")


@posts_app.command("wage-roll")
def posts_wage_roll(
    project: str = typer.Option(..., "--project", help="the public-welfare-post project paying the posts"),
    period: str = typer.Option(..., "--period", help="the month paid, YYYY-MM"),
    batch: str = typer.Option(..., "--batch", help="the new batch's number (批次号)"),
    paid_on: str = typer.Option(..., "--paid-on", help="pay date, YYYY-MM-DD"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Generate one month's wage roll from the roster (full monthly wage per post held in the month) as a
    draft payment batch, which then goes through disclosure (公示) and approval. Again: a no-op."""
    from ledger import welfare

    day = _date(paid_on, "--paid-on")
    try:
        out = welfare.wage_roll(_engine(), SYSTEM, project, period, batch, day)
    except (LedgerRefusal, PermissionDenied) as exc:
        _fail(exc, as_json)
    if as_json:
        typer.echo(json.dumps({"ok": True, **out.as_dict()}, ensure_ascii=False, default=str))
    elif out.batch_no is None:
        where = f" (batch {', '.join(out.existing_batches)})" if out.existing_batches else ""
        typer.echo(f"nothing to generate: every post's {period} is already in a roll{where}")
    else:
        typer.echo(f"batch {out.batch_no}: {out.rows_created:,} wages for {period}, {format_yuan(out.total_fen)} "
                   f"yuan, draft; {out.already_in_a_roll:,} already in a roll. Next: disclose it (公示), then "
                   "another user approves it")


users_app = typer.Typer(help="Users and API tokens", no_args_is_help=True)
app.add_typer(users_app, name="users")


@users_app.command("add")
def users_add(
    name: str = typer.Argument(..., help="user name (a–z, 0–9, . _ -)"),
    role: str = typer.Option(..., "--role", help="finance_officer | approver | loan_officer | inspector | admin"),
    township: str = typer.Option(None, "--township", help="limit the user to one township (乡镇)"),
    display_name: str = typer.Option("", "--display-name"),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="read the password from standard input"),
) -> None:
    """Create a user. The password comes from a prompt, or from standard input with --password-stdin."""
    from ledger import users

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        uid = users.create_user(_engine(), SYSTEM, name, role, password, township, display_name)
    except (LedgerRefusal, PermissionDenied) as exc:
        _fail(exc)
    typer.echo(f"user {name} ({role}) created with id {uid}")


@users_app.command("token")
def users_token(name: str = typer.Argument(...), label: str = typer.Option("cli", "--name")) -> None:
    """Issue an API bearer token for a user (printed once)."""
    from sqlalchemy import select

    from ledger import users
    from ledger.db import read_only

    engine = _engine()
    with read_only(engine) as s:
        row = s.execute(select(users.USER).where(users.USER.c.username == name)).first()
    if row is None or not row.is_active or row.role == "system":
        typer.echo(f"error: no active user {name!r}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT)
    typer.echo(users.issue_api_token(engine, users.actor_of(row), label))


@app.command("serve")
def serve(host: str = typer.Option("127.0.0.1", "--host"), port: int = typer.Option(8000, "--port")) -> None:
    """Start the web application (pages and /api/v1)."""
    import uvicorn

    typer.echo(f"Huimin Ledger on http://{host}:{port}/")
    # By name, as a factory: the domain package never imports the web layer (import-linter).
    uvicorn.run("api.app:create_app", factory=True, host=host, port=port, log_level="info", proxy_headers=False)


@app.command("demo")
def demo(
    scale: str = typer.Option("town", "--scale", help="town (about a twentieth, seconds) | county (the "
                              "reference county: 31,943 households)"),
    seed: int = typer.Option(7, "--seed", help="the same seed builds the same county"),
    serve_after: bool = typer.Option(False, "--serve", help="start the web application afterwards"),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port"),
) -> None:
    """Build the demo county (DESIGN §10) on the configured database (SQLite by default) through the
    officers' own use cases; verify the journal; print the demo users; optionally serve it."""
    from ledger.demo import SCALES, STEPS, TOTAL_WEIGHT, build_demo, ensure_demo_users
    from ledger.migrate import upgrade

    settings = get_settings()
    if settings.environment == "production":
        _usage("the demo does not run in production")
    if scale not in SCALES:
        _usage(f"--scale {scale!r}: one of {', '.join(SCALES)}")
    engine = get_engine()
    upgrade(settings.database_url)
    order = [name for name, _ in STEPS]
    # The bar shows the step under way; each step reports its weight when it is done.
    with typer.progressbar(length=TOTAL_WEIGHT, label=f"{scale} demo: {order[0]}…", file=sys.stderr,
                           show_pos=False) as bar:

        def progress(done: str, weight: int) -> None:
            i = order.index(done) + 1 if done in order else len(order)
            bar.label = f"{scale} demo: {order[i]}…" if i < len(order) else f"{scale} demo: done"
            bar.update(weight)

        try:
            out = build_demo(engine, scale, seed, progress)
        except LedgerRefusal as exc:
            _fail(exc)
    if out.get("already_built"):
        typer.echo("the demo county is already in this database (delete the database file to build it again)")
    else:
        typer.echo(", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in out.items()))
    result = services.verify_journal(engine, SYSTEM)
    typer.echo(f"verify: {'ok' if result.ok else 'FAILED'} — {result.entries_checked:,} entries, chain head "
               f"{result.head_seq} {result.head_hash[:16]}…")
    typer.echo("demo users (user name / password):")
    for name, role, password in ensure_demo_users(engine):
        typer.echo(f"  {name:<10} {password:<24} {role}")
    typer.echo(f"open http://{host}:{port}/ " + ("(starting now)" if serve_after else "after `huimin serve`"))
    if serve_after:
        serve(host, port)


if __name__ == "__main__":  # pragma: no cover
    app()
