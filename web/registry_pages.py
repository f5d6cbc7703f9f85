"""Registry pages: search (户籍查询), the household page, and the spreadsheet import (户籍导入).

Who sees what (DESIGN.md §1, §5):

- `registry.read` (finance officer, approver, loan officer, inspector) opens the search and the
  household pages; the admin does not read the registry. A user scoped to a township sees only its
  households: ledger.registry filters, the page only shows what the service returns.
- Full resident ID numbers and bank accounts are shown to the finance officer (who keeps the
  registry and prepares payment rolls from it) and the inspector (who reads everything and must
  compare payees with it). The approver and the loan officer see the masked 公示 form
  (ledger.ids.mask_id, mask_account): they recognise a person, they do not copy an ID number.
- `registry.import` (finance officer) uploads a households / persons / officials / reference sheet;
  the same page offers the projects sheet to `project.create` and the allocations sheet (pending
  requests for an approver) to `fund.allocate`: each template to whoever may import it
  (ledger.imports.files.PERMISSION), one upload page for every officer's sheet.
  Nothing half-lands (ledger.imports.files); every problem is listed as row, column, value,
  message, and a copy of the sheet with an error column can be downloaded once, by the same user,
  from a small bounded in-memory store (per process: with several workers a download can miss;
  the officer then imports the file again to get a fresh link).
"""

from __future__ import annotations

import re
import secrets
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, Path, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from api.deps import EngineDep
from ledger import payments, registry
from ledger.ids import mask_account, mask_id
from ledger.imports.files import PERMISSION, REGISTRY_KINDS, Declared, import_file
from ledger.imports.tabular import MAX_FILE_BYTES, error_sheet, read_upload
from ledger.journal import LedgerRefusal
from ledger.money import MoneyError, parse_yuan_strict
from ledger.permissions import Actor, allowed
from web.deps import CurrentUser, csrf_protect, page_allowed
from web.i18n import N_
from web.i18n import gettext as _
from web.ledger_pages import MAX_PAGE, PLAIN, export_response, html_or_partial, pager, url_with
from web.masking import FULL_ID_ROLES  # who sees full ID and account numbers: one rule for pages and API
from web.payment_pages import statement_labels
from web.problem_text import localised, problem_message
from web.routes import render

router = APIRouter(include_in_schema=False)



STATUS_NAMES = {
    "poor": N_("Not yet out of poverty"), "exited": N_("Out of poverty"), "edge": N_("Edge, easily poor"),
    "monitored": N_("Monitored"), "general": N_("General farmer"), "closed": N_("Closed"),
}
RELATION_NAMES = {
    "head": N_("Head"), "spouse": N_("Spouse"), "child": N_("Child"), "parent": N_("Parent"),
    "other": N_("Other relation"),
}
LEFT_NAMES = {"moved": N_("Moved away"), "died": N_("Died"), "other": N_("Other reason")}
KIND_NAMES = {"households": N_("Households"), "persons": N_("Persons (household members)"),
              "officials": N_("Officials"), "reference": N_("Reference list (deaths, public employees…)"),
              "projects": N_("Projects (the project library)"),
              "allocations": N_("Allocations (requests for an approver)"),
              "payments": N_("Payment roll (发放清册)"), "bank_returns": N_("Bank return file (银行回盘)"),
              "posts": N_("Public-welfare posts roster (公益性岗位)")}
# What the upload page offers, in this order, each to the users holding its import permission.
UPLOAD_KINDS = REGISTRY_KINDS + ("projects", "allocations", "payments", "bank_returns", "posts")
SUMMARY_NAMES = {
    "households_created": N_("Households added"), "households_updated": N_("Households changed"),
    "households_unchanged": N_("Households unchanged"), "persons_created": N_("Persons added"),
    "persons_updated": N_("Persons changed"), "persons_unchanged": N_("Persons unchanged"),
    "villages_created": N_("Villages added"), "status_changes": N_("Status changes"),
    "created": N_("Added"), "updated": N_("Changed"), "unchanged": N_("Unchanged"),
    "projects_created": N_("Projects added"), "projects_unchanged": N_("Projects unchanged"),
    "requests_created": N_("Allocation requests prepared"),
    "requests_already": N_("Allocation requests already prepared"),
    "batches_created": N_("Payment batches prepared"), "rows_created": N_("Payment rows added"),
    "rows_already_recorded": N_("Payment rows already recorded"), "total": N_("Sum of the rows added (yuan)"),
    "entries_posted": N_("Entries posted"), "paid": N_("Marked paid"), "failed": N_("Marked failed and reversed"),
    "already_recorded": N_("Return lines already recorded"),
    "posts_created": N_("Posts added"), "posts_ended": N_("Posts ended"), "posts_unchanged": N_("Posts unchanged"),
}

HOUSEHOLD_NO = r"^[0-9A-Za-z][0-9A-Za-z-]{0,31}$"
SearchText = Annotated[str | None, Query(max_length=64, pattern=PLAIN)]


def sees_full_ids(actor: Actor) -> bool:
    return actor.role in FULL_ID_ROLES


def _id_shower(actor: Actor):
    full = sees_full_ids(actor)
    return lambda number: (number or "") if full else mask_id(number or "")


def _account_shower(actor: Actor):
    full = sees_full_ids(actor)
    return lambda number: (number or "") if full or not number else mask_account(number)


def _labels(actor: Actor) -> dict:
    return {"status_names": STATUS_NAMES, "relation_names": RELATION_NAMES, "left_names": LEFT_NAMES,
            "show_id": _id_shower(actor), "show_account": _account_shower(actor),
            "full_ids": sees_full_ids(actor)}


# ---------------------------------------------------------------------------------------------
# Search


@router.get("/registry", response_class=HTMLResponse)
def registry_search(
    request: Request,
    engine: EngineDep,
    actor: CurrentUser,
    name: SearchText = None,
    id_number: SearchText = None,
    household_no: SearchText = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
) -> Response:
    page_allowed(actor, "registry.read")
    params = {"name": (name or "").strip() or None, "id_number": (id_number or "").strip() or None,
              "household_no": (household_no or "").strip() or None}
    ctx: dict = {"params": params, "problems": [], "result": None, "pager": None, **_labels(actor)}
    if not any(params.values()):
        return html_or_partial(request, "registry.html", "partials/registry_results.html", ctx,
                               push_url="/registry")
    try:
        result = registry.search_registry(engine, actor, name=params["name"], id_number=params["id_number"],
                                          household_no=params["household_no"], page=page)
    except LedgerRefusal as exc:
        ctx["problems"] = [problem_message(p.message) for p in exc.problems]
        return html_or_partial(request, "registry.html", "partials/registry_results.html", ctx, 422)
    ctx.update(result=result, pager=pager("/registry", params, result))
    return html_or_partial(request, "registry.html", "partials/registry_results.html", ctx,
                           push_url=url_with("/registry", params, page=page if page > 1 else None))


# ---------------------------------------------------------------------------------------------
# One household


@router.get("/registry/households/{household_no}", response_class=HTMLResponse)
def household_page(request: Request, engine: EngineDep, actor: CurrentUser,
                   household_no: Annotated[str, Path(max_length=32, pattern=HOUSEHOLD_NO)]) -> Response:
    page_allowed(actor, "registry.read")
    detail = registry.household_detail(engine, actor, household_no)
    if detail is None:
        raise HTTPException(status_code=404, detail="no such household")
    # 收款明细: only for those who read payments (the service checks again); others see the page without it.
    statement = payments.household_statement(engine, actor, household_no) if allowed(actor, "payment.read") \
        else None
    return render(request, "household.html", {"h": detail, "statement": statement, **statement_labels(),
                                              **_labels(actor)})


# ---------------------------------------------------------------------------------------------
# Import


@dataclass
class _Sheet:
    user_id: int
    name: str
    data: bytes
    made: float


class ErrorSheets:
    """Error sheets waiting to be downloaded: at most `max_entries` and `max_bytes`, each for one
    hour, each served once and only to the user who uploaded the file. Oldest go first."""

    def __init__(self, max_entries: int = 20, max_bytes: int = 64 << 20, ttl: float = 3600.0) -> None:
        self.max_entries, self.max_bytes, self.ttl = max_entries, max_bytes, ttl
        self._items: OrderedDict[str, _Sheet] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, user_id: int, name: str, data: bytes) -> str | None:
        if len(data) > self.max_bytes:
            return None
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._expire()
            self._items[token] = _Sheet(user_id, name, data, time.monotonic())
            while len(self._items) > self.max_entries or sum(len(s.data) for s in self._items.values()) > \
                    self.max_bytes:
                self._items.popitem(last=False)
        return token

    def take(self, user_id: int, token: str) -> _Sheet | None:
        with self._lock:
            self._expire()
            sheet = self._items.get(token)
            if sheet is None or sheet.user_id != user_id:
                return None
            del self._items[token]
            return sheet

    def _expire(self) -> None:
        now = time.monotonic()
        for token in [t for t, s in self._items.items() if now - s.made > self.ttl]:
            del self._items[token]


ERROR_SHEETS = ErrorSheets()
_UNSAFE_NAME = re.compile(r"[^\w.\-]+")


def _safe_filename(name: str | None) -> str:
    base = FsPath((name or "").replace("\\", "/")).name
    base = _UNSAFE_NAME.sub("_", base).strip("._")[:100]
    return base or "upload.csv"


def offered_kinds(actor: Actor) -> list[str]:
    """The templates this user may upload (none: the page is not for it)."""
    return [k for k in UPLOAD_KINDS if allowed(actor, PERMISSION[k])]


def _may_upload(actor: Actor) -> list[str]:
    kinds = offered_kinds(actor)
    if not kinds:
        raise HTTPException(status_code=403, detail="forbidden")
    return kinds


def _import_context(actor: Actor, **extra) -> dict:
    kinds = offered_kinds(actor)
    ctx = {"kinds": [(k, KIND_NAMES[k]) for k in kinds], "kind": kinds[0] if kinds else "", "dry_run": True,
           "create_villages": False, "report": None, "errors": [], "warnings": [], "summary": [],
           "error_url": None, "problems": [], "max_mb": MAX_FILE_BYTES >> 20}
    ctx.update(extra)
    return ctx


@router.get("/registry/import", response_class=HTMLResponse)
def import_form(request: Request, actor: CurrentUser,
                kind: Annotated[str | None, Query(max_length=32, pattern=PLAIN)] = None) -> Response:
    kinds = _may_upload(actor)
    extra = {"kind": kind} if kind in kinds else {}
    return render(request, "registry_import.html", _import_context(actor, **extra))


@router.post("/registry/import", response_class=HTMLResponse, dependencies=[Depends(csrf_protect)])
def import_upload(
    request: Request,
    engine: EngineDep,
    actor: CurrentUser,
    kind: Annotated[str, Form(max_length=32)],
    file: Annotated[UploadFile, File()],
    dry_run: Annotated[bool, Form()] = False,
    create_villages: Annotated[bool, Form()] = False,
    declared_count: Annotated[str, Form(max_length=16)] = "",
    declared_total: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    kinds = _may_upload(actor)
    ctx = _import_context(actor, kind=kind, dry_run=dry_run, create_villages=create_villages,
                          declared_count=declared_count, declared_total=declared_total)
    if kind not in kinds:
        ctx["problems"] = [_("Choose a template.")]
        return render(request, "registry_import.html", ctx, 422)
    declared, problems = _declared(kind, declared_count, declared_total)
    if problems:
        ctx["problems"] = problems
        return render(request, "registry_import.html", ctx, 422)
    data = read_upload(file.file)
    if data is None:
        ctx["problems"] = [_("The file is larger than %(mb)s MB.") % {"mb": MAX_FILE_BYTES >> 20}]
        return render(request, "registry_import.html", ctx, 422)
    if not data:
        ctx["problems"] = [_("Choose a file to upload.")]
        return render(request, "registry_import.html", ctx, 422)
    name = _safe_filename(file.filename)
    with tempfile.TemporaryDirectory(prefix="huimin-import-") as tmp:
        path = FsPath(tmp) / name
        path.write_bytes(data)
        report = import_file(engine, actor, kind, path, dry_run=dry_run, create_villages=create_villages,
                             declared=declared)
    body = report.as_dict()
    ctx.update(report=report, errors=body.get("errors", []), warnings=body["warnings"],
               summary=[(SUMMARY_NAMES.get(k, k), v) for k, v in report.summary.items()])
    if report.ok:
        return render(request, "registry_import.html", ctx)
    # The officer fixes the sheet from its error column: in the page's language, as on screen.
    sheet = error_sheet(data, name, localised(report.problems), localised(report.warnings))
    token = ERROR_SHEETS.put(actor.user_id, FsPath(name).stem + "-errors.xlsx", sheet)
    ctx["error_url"] = f"/registry/import/errors/{token}" if token else None
    return render(request, "registry_import.html", ctx, 422)


def _declared(kind: str, count: str, total: str) -> tuple[Declared | None, list[str]]:
    """A payment roll's control totals as typed on the form (笔数, 金额合计): both required for a roll,
    ignored for any other sheet. The service compares them with the rows and refuses any difference."""
    if kind != "payments":
        return None, []
    problems = []
    count, total = count.strip(), total.strip()
    if not count or not total:
        problems.append(_("A payment roll needs its declared number of rows and total (the control totals of "
                          "its cover sheet)."))
        return None, problems
    n = int(count) if count.isdigit() and len(count) <= 7 else 0
    if not 1 <= n <= payments.MAX_ROWS_PER_CALL:
        problems.append(_("The declared number of rows must be a whole number from 1."))
    try:
        fen = parse_yuan_strict(total)
    except MoneyError:
        fen = 0
        problems.append(_("The declared total must be yuan with at most two decimals, e.g. 1234.50."))
    else:
        if fen <= 0:
            problems.append(_("The declared total must be greater than 0.00."))
    return (None, problems) if problems else (Declared(n, fen), [])


@router.get("/registry/import/errors/{token}")
def import_errors(actor: CurrentUser, token: Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
                  ) -> Response:
    _may_upload(actor)
    sheet = ERROR_SHEETS.take(actor.user_id, token)
    if sheet is None:
        raise HTTPException(status_code=404, detail="no such error sheet (each is downloaded once)")
    return export_response(sheet.name, sheet.data, "xlsx")
