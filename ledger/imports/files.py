"""Officers' spreadsheet imports (DESIGN.md §8): a CSV or XLSX file of one template, checked whole,
then handed to the use case that owns its rows. Nothing half-lands: any problem anywhere means
nothing is written, and every problem comes back at once as (row, column, value, message).

Supported: the registry templates (households, persons, officials, reference), funds (fund sources
and their receipts), projects, allocations and payments (payment rolls: batches of rows, with the
roll's declared control totals), and the roster of public-welfare posts (posts, ledger.welfare). Loans
and repayments are refused by name until their use cases exist, rather than accepted and ignored.

History (`history`): funds, allocations and payments already done before the county adopted Huimin
are recorded as done on their own dates, through the same checks and the same posting code, with the
named approver as checker (ledger.history).
"""

from __future__ import annotations

import datetime as dt
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from ledger import projects, registry, services
from ledger.db import rehearsal
from ledger.entries import Problem
from ledger.history import HistoryMark
from ledger.imports.cells import validate_rows
from ledger.imports.tabular import TEMPLATES, error_sheet, read_table_path
from ledger.journal import LedgerRefusal
from ledger.permissions import Actor, require

REGISTRY_KINDS = ("households", "persons", "officials", "reference")
HISTORY_KINDS = ("funds", "allocations", "payments")
SUPPORTED = REGISTRY_KINDS + ("funds", "projects", "allocations", "payments", "bank_returns", "posts")
PERMISSION = {"households": "registry.import", "persons": "registry.import",
              "officials": "registry.reference", "reference": "registry.reference", "funds": "fund.receive",
              "projects": "project.create", "allocations": "fund.allocate", "payments": "payment.prepare",
              "bank_returns": "payment.return", "posts": "welfare.manage"}


@dataclass(frozen=True, slots=True)
class Declared:
    """A payment roll's control totals as the officer declares them (the cover sheet of the 清册)."""

    count: int
    total_fen: int


@dataclass
class FileImportReport:
    ok: bool
    kind: str
    rows: int = 0
    dry_run: bool = False
    summary: dict = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    def as_dict(self) -> dict:
        out = {"ok": self.ok, "kind": self.kind, "rows": self.rows, "dry_run": self.dry_run,
               "summary": self.summary, "warnings": [_shape(w) for w in self.warnings]}
        if not self.ok:
            out["errors"] = [_shape(p) for p in self.problems]
        return out


def _shape(p: Problem) -> dict:
    """The §9 import error shape: row, column, value, message."""
    return {"row": p.row, "column": p.field, "value": p.value, "message": p.message}


def _inputs(kind: str, records):
    if kind == "households":
        return [registry.HouseholdIn(
            household_no=r["household_no"], township=r["township"], village=r["village"], head_name=r["head_name"],
            head_id_number=r["head_id_number"], size=r["size"], status=r["status"], bank_account=r["bank_account"],
            phone=r.get("phone"), row=r["row"]) for r in records]
    if kind == "persons":
        return [registry.PersonIn(household_no=r["household_no"], name=r["name"], id_number=r["id_number"],
                                  relation=r["relation"], row=r["row"]) for r in records]
    if kind == "officials":
        return [registry.OfficialIn(id_number=r["id_number"], name=r["name"], position=r["position"],
                                    township=r["township"], village=r.get("village"), row=r["row"])
                for r in records]
    if kind == "funds":
        return [services.FundReceiptIn(fund_code=r["fund_code"], fund_name=r["fund_name"], kind=r["kind"],
                                       document_no=r["document_no"], amount_fen=r["amount"],
                                       received_on=r["received_on"], row=r["row"]) for r in records]
    if kind == "projects":
        return [projects.ProjectIn(code=r["project_code"], name=r["name"], industry=r["industry"],
                                   start_on=r["start_on"], budget_fen=r["budget"], township=r.get("township"),
                                   implementer=r.get("implementer"), standard_fen=r.get("standard"),
                                   end_on=r.get("end_on"), row=r["row"]) for r in records]
    if kind == "allocations":
        return [projects.AllocationRowIn(project_code=r["project_code"], fund_code=r["fund_code"],
                                         amount_fen=r["amount"], allocated_on=r["allocated_on"], row=r["row"])
                for r in records]
    if kind == "bank_returns":
        from ledger.payments import BankReturnIn

        return [BankReturnIn(ref=r["ref"], result=r["result"], returned_on=r["returned_on"], note=r.get("note"),
                             row=r["row"]) for r in records]
    if kind == "posts":
        from ledger.welfare import PostIn

        return [PostIn(post_no=r["post_no"], post_type=r["post_type"], project_code=r["project_code"],
                       household_no=r["household_no"], holder_id_number=r["holder_id_number"],
                       holder_name=r["holder_name"], monthly_wage_fen=r["monthly_wage"], start_on=r["start_on"],
                       end_on=r.get("end_on"), row=r["row"]) for r in records]
    if kind == "payments":
        from ledger.payments import PaymentIn

        return [PaymentIn(ref=r["ref"], batch_no=r["batch_no"], project_code=r["project_code"],
                          household_no=r["household_no"], payee_id_number=r["payee_id_number"],
                          payee_name=r["payee_name"], bank_account=r["bank_account"], amount_fen=r["amount"],
                          paid_on=r["paid_on"], purpose=r["purpose"], period=r["period"], item=r.get("item"),
                          quantity=r.get("quantity"), unit_price_fen=r.get("unit_price"), row=r["row"])
                for r in records]
    assert kind == "reference"
    return [registry.ReferenceIn(id_number=r["id_number"], name=r["name"], kind=r["kind"], on_date=r["date"],
                                 row=r["row"]) for r in records]


def import_file(engine: Engine, actor: Actor, kind: str, path: Path, *, dry_run: bool = False,
                create_villages: bool = False, as_of: dt.date | None = None, history: HistoryMark | None = None,
                declared: Declared | None = None) -> FileImportReport:
    report = FileImportReport(ok=False, kind=kind, dry_run=dry_run)
    if history is not None and kind not in HISTORY_KINDS:
        report.problems.append(Problem("file", "history", kind, "--history is for " + ", ".join(HISTORY_KINDS)))
        return report
    if declared is not None and kind != "payments":
        report.problems.append(Problem("file", "count", kind, "control totals are declared for payment rolls"))
        return report
    if kind not in TEMPLATES:
        report.problems.append(Problem("file", "kind", kind, "unknown template; one of " + ", ".join(TEMPLATES)))
        return report
    if kind not in SUPPORTED:
        report.problems.append(Problem("file", "kind", kind, "this template cannot be imported yet; supported: "
                                       + ", ".join(SUPPORTED)))
        return report
    require(actor, PERMISSION[kind])  # before reading a byte: no information for the wrong role
    if history is not None:
        require(actor, "payment.history" if kind == "payments" else PERMISSION[kind])
    spec = TEMPLATES[kind]
    table = read_table_path(path, spec)
    checked = validate_rows(table, spec, as_of=as_of)
    report.rows = len(table.rows)
    report.warnings.extend(checked.warnings)
    if checked.problems:
        report.problems.extend(checked.problems)
        return report
    inputs = _inputs(kind, checked.records)
    try:
        with rehearsal() if dry_run else nullcontext():
            if kind in ("households", "persons"):
                out = registry.upsert_households(
                    engine, actor, inputs if kind == "households" else (), inputs if kind == "persons" else (),
                    create_villages=create_villages)
                report.warnings.extend(out.warnings)
            elif kind == "officials":
                out = registry.upsert_officials(engine, actor, inputs)
            elif kind == "funds":
                out = services.import_fund_receipts(engine, actor, inputs, history=history)
            elif kind == "projects":
                out = projects.import_projects(engine, actor, inputs)
            elif kind == "allocations":
                out = projects.import_allocations(engine, actor, inputs, history=history)
            elif kind == "bank_returns":
                from ledger import payments

                out = payments.record_bank_returns(engine, actor, inputs)
            elif kind == "posts":
                from ledger import welfare

                out = welfare.upsert_posts(engine, actor, inputs)
            elif kind == "payments":
                from ledger import payments

                out = payments.import_payments(engine, actor, inputs, declared_count=declared and declared.count,
                                               declared_total_fen=declared and declared.total_fen,
                                               history=history, file_sha256=_sha256(path))
            else:
                out = registry.upsert_reference_entries(engine, actor, inputs)
    except LedgerRefusal as exc:
        report.problems.extend(exc.problems)
        report.problems.sort(key=lambda p: (p.row or 0))
        return report
    # The sheet checks and the registry may both notice the same thing (a card failing Luhn).
    seen: set[tuple] = set()
    report.warnings = [w for w in report.warnings
                       if not ((w.row, w.field, w.message) in seen or seen.add((w.row, w.field, w.message)))]
    summary = dict(out) if isinstance(out, dict) else out.as_dict()
    summary.pop("warnings", None)
    report.summary = summary
    report.ok = True
    return report


def _sha256(path: Path) -> str:
    from ledger.history import file_sha256

    return file_sha256(path)


def write_error_sheet(path: Path, report: FileImportReport, out: Path) -> None:
    """A copy of the officer's sheet with an error column, to fix and import again."""
    out.write_bytes(error_sheet(path.read_bytes(), path.name, report.problems, report.warnings))
