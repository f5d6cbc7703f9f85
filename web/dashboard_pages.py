"""The finance dashboard page (资金看板) and the export of its tables.

For the holders of `dashboard.read` (finance officer, approver, inspector): the flow of money from
fund sources through projects to industries (an Apache ECharts Sankey), spending progress by township
and the idle balances, as of a date or now. Every figure comes from ledger.dashboard; this module only
turns it into what the template and the chart show.

The chart. Our CSP runs no inline script, so the page carries the chart's data as JSON in a
`<script type="application/json">` block (Jinja's `tojson` escapes `<`, `>`, `&` and `'`), and
web/static/dashboard.js reads it and starts the vendored ECharts (web/static/vendor/echarts). Amounts
go into that JSON as exact decimal strings of yuan; the script makes them numbers only for the
chart's layout, and every figure a person reads (labels, tooltips, tables) is the exact one.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import EngineDep
from ledger import dashboard
from ledger.money import format_money, format_yuan
from web.deps import CurrentUser, page_allowed
from web.i18n import N_
from web.i18n import gettext as _
from web.ledger_pages import DateText, export_format, export_links, export_response, parse_date
from web.routes import render

router = APIRouter(include_in_schema=False)



# Industry keys (DESIGN §5) that the page shows through `| t`; listed so that extraction finds them.
INDUSTRY_KEYS = (
    N_("rose"), N_("grape"), N_("vegetable"), N_("marigold"), N_("fungus"), N_("sheep"), N_("goose"), N_("pigeon"),
    N_("rabbit"), N_("hotan_sheep"), N_("welfare_post"), N_("interest_subsidy"), N_("infrastructure"), N_("other"),
)
IDLE_LEVELS = {"warn": N_("Watch"), "flag": N_("Idle"), "severe": N_("Severely idle")}
TABLE_NAMES = {"townships": N_("Spending by township"), "idle": N_("Idle balances")}
# Columns of the Sankey, left to right (ECharts `depth`).
DEPTH = {"fund": 0, "project": 1, "other_projects": 1, "industry": 2, "unspent": 2}


def _node_label(n: dashboard.SankeyNode) -> str:
    if n.kind == "industry":
        return _(n.code) if n.code else _("Not in the project library")
    if n.kind == "unspent":
        return _("Unspent balance")
    if n.kind == "other_projects":
        return _("Other projects (%(count)s)") % {"count": n.projects}
    return n.name or n.code


def chart_data(sankey: dashboard.Sankey) -> dict:
    """What web/static/dashboard.js draws. `value` is yuan as an exact decimal string: the browser turns
    it into a number for the layout only (the one place a float touches money, and only to size a band);
    `amount` is the same figure formatted for people, shown in labels and tooltips."""
    totals = dashboard.node_totals(sankey)
    return {
        "nodes": [{"key": n.key, "kind": n.kind, "label": _node_label(n), "code": n.code, "depth": DEPTH[n.kind],
                   "amount": format_money(totals[n.key])} for n in sankey.nodes],
        "links": [{"source": k.source, "target": k.target, "value": format_yuan(k.amount_fen),
                   "amount": format_money(k.amount_fen)} for k in sankey.links],
    }


def progress_bar(pct: Decimal | None) -> str:
    """The value of a <progress max="100"> bar: the percentage held between 0 and 100 (the text next to
    the bar shows the exact figure, which can pass 100 or go below 0 after recoveries)."""
    if pct is None or pct < 0:
        return "0"
    return "100" if pct > 100 else str(pct)


ExportTable = Annotated[str, Query(max_length=16, pattern=r"^[a-z_]+$")]


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(request: Request, engine: EngineDep, actor: CurrentUser, as_of: DateText = None) -> Response:
    page_allowed(actor, "dashboard.read")
    problems: list[str] = []
    day = parse_date(as_of, _("As of"), problems)
    params = {"as_of": day.isoformat() if day else None}
    ctx: dict = {"params": params, "problems": problems, "board": None, "level_names": IDLE_LEVELS,
                 "exports": {t: export_links("/dashboard/export", {**params, "table": t})
                             for t in dashboard.EXPORT_TABLES}}
    if problems:
        return render(request, "dashboard.html", ctx, 422)
    board = dashboard.finance_dashboard(engine, actor, day)
    labels = {n.key: _node_label(n) for n in board.sankey.nodes}
    ctx.update(
        board=board,
        chart=chart_data(board.sankey),
        flows=[{"source": labels[k.source], "target": labels[k.target], "amount_fen": k.amount_fen}
               for k in board.sankey.links],
        townships=[{"t": t, "bar": progress_bar(t.progress_pct)} for t in board.townships],
        overall_bar=progress_bar(board.progress_pct),
    )
    return render(request, "dashboard.html", ctx)


@router.get("/dashboard/export")
def dashboard_export(
    engine: EngineDep,
    actor: CurrentUser,
    table: ExportTable = "townships",
    format: Annotated[str, Query(max_length=8)] = "xlsx",
    as_of: DateText = None,
) -> Response:
    page_allowed(actor, "dashboard.read")
    fmt = export_format(format)
    if table not in dashboard.EXPORT_TABLES:
        raise HTTPException(status_code=422, detail="table must be one of " + ", ".join(dashboard.EXPORT_TABLES))
    problems: list[str] = []
    day = parse_date(as_of, _("As of"), problems)
    if problems:
        raise HTTPException(status_code=422, detail="; ".join(problems))
    name, data = dashboard.export_table(engine, actor, table, fmt, day)
    return export_response(name, data, fmt)
