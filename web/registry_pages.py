"""Registry pages: search (户籍查询), the household page, and the spreadsheet import (户籍导入).

Who sees what (DESIGN.md §1, §5):

- `registry.read` (finance officer, approver, loan officer, inspector) opens the search and the
  household pages; the admin does not read the registry. A user scoped to a township sees only its
  households: ledger.registry filters, the page only shows what the service returns.
- Full resident ID numbers and bank accounts are shown to the finance officer (who keeps the
  registry and prepares payment rolls from it) and the inspector (who reads everything and must
  compare payees with it). The approver and the loan officer see the masked 公示 form
  (ledger.ids.mask_id, mask_account): they recognise a person, they do not copy an ID number.
- `registry.import` (finance officer) uploads a households / persons / officials / reference sheet.
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
from ledger import registry
from ledger.ids import mask_account, mask_id
from ledger.imports.files import REGISTRY_KINDS, import_file
from ledger.imports.tabular import MAX_FILE_BYTES, error_sheet, read_upload
from ledger.journal import LedgerRefusal
from ledger.permissions import Actor
from web.deps import CurrentUser, csrf_protect, page_allowed
from web.i18n import gettext as _
from web.ledger_pages import MAX_PAGE, PLAIN, export_response, html_or_partial, pager, url_with
from web.routes import render

router = APIRouter(include_in_schema=False)


def N_(message: str) -> str:
    """Marks a message id for extraction; no translation here."""
    return message


FULL_ID_ROLES = frozenset({"finance_officer", "inspector"})

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
              "officials": N_("Officials"), "reference": N_("Reference list (deaths, public employees…)")}
SUMMARY_NAMES = {
    "households_created": N_("Households added"), "households_updated": N_("Households changed"),
    "households_unchanged": N_("Households unchanged"), "persons_created": N_("Persons added"),
    "persons_updated": N_("Persons changed"), "persons_unchanged": N_("Persons unchanged"),
    "villages_created": N_("Villages added"), "status_changes": N_("Status changes"),
    "created": N_("Added"), "updated": N_("Changed"), "unchanged": N_("Unchanged"),
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
        ctx["problems"] = [p.message for p in exc.problems]
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
    return render(request, "household.html", {"h": detail, **_labels(actor)})


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


def _import_context(**extra) -> dict:
    ctx = {"kinds": [(k, KIND_NAMES[k]) for k in REGISTRY_KINDS], "kind": "households", "dry_run": True,
           "create_villages": False, "report": None, "errors": [], "warnings": [], "summary": [],
           "error_url": None, "problems": [], "max_mb": MAX_FILE_BYTES >> 20}
    ctx.update(extra)
    return ctx


@router.get("/registry/import", response_class=HTMLResponse)
def import_form(request: Request, actor: CurrentUser) -> Response:
    page_allowed(actor, "registry.import")
    return render(request, "registry_import.html", _import_context())


@router.post("/registry/import", response_class=HTMLResponse, dependencies=[Depends(csrf_protect)])
def import_upload(
    request: Request,
    engine: EngineDep,
    actor: CurrentUser,
    kind: Annotated[str, Form(max_length=32)],
    file: Annotated[UploadFile, File()],
    dry_run: Annotated[bool, Form()] = False,
    create_villages: Annotated[bool, Form()] = False,
) -> Response:
    page_allowed(actor, "registry.import")
    ctx = _import_context(kind=kind, dry_run=dry_run, create_villages=create_villages)
    if kind not in REGISTRY_KINDS:
        ctx["problems"] = [_("Choose a template.")]
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
        report = import_file(engine, actor, kind, path, dry_run=dry_run, create_villages=create_villages)
    body = report.as_dict()
    ctx.update(report=report, errors=body.get("errors", []), warnings=body["warnings"],
               summary=[(SUMMARY_NAMES.get(k, k), v) for k, v in report.summary.items()])
    if report.ok:
        return render(request, "registry_import.html", ctx)
    sheet = error_sheet(data, name, report.problems, report.warnings)
    token = ERROR_SHEETS.put(actor.user_id, FsPath(name).stem + "-errors.xlsx", sheet)
    ctx["error_url"] = f"/registry/import/errors/{token}" if token else None
    return render(request, "registry_import.html", ctx, 422)


@router.get("/registry/import/errors/{token}")
def import_errors(actor: CurrentUser, token: Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
                  ) -> Response:
    page_allowed(actor, "registry.import")
    sheet = ERROR_SHEETS.take(actor.user_id, token)
    if sheet is None:
        raise HTTPException(status_code=404, detail="no such error sheet (each is downloaded once)")
    return export_response(sheet.name, sheet.data, "xlsx")
