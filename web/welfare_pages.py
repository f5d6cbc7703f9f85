"""Public-welfare post pages (公益性岗位) and the in-kind advance aging (实物预付账龄).

Who sees what (ledger.welfare and ledger.inkind decide; the pages show what they return):

- `welfare.read` (finance officer, approver, inspector) opens /posts: the roster with filters (type,
  township, project, in post or not on a day, a search) updated in place by htmx like the journal, the
  posts and monthly wages by type, and the whole filtered roster exported (audited). Holder IDs come
  masked from the service for the roles that do not see full IDs.
- A finance officer (`welfare.manage` and `payment.prepare`) also gets the form that generates a month's
  wage roll from the roster: a CSRF-protected POST that, when it creates a batch, redirects to the batch's
  page (/payments/<batch_no>) where it is disclosed and approved like any other roll. A month already in a
  roll is said so on the page, with a link to its batch; a refusal lists every problem.
- `payment.read` (finance officer, approver, inspector) opens /advances: per project, what its implementer
  was advanced, delivered and still owes in goods, by fund, aged (0–30, 31–90, 91–180, over 180 days) as
  of a day, exported (audited).
- The roster itself is uploaded on the import page (web.registry_pages, template `posts`).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import EngineDep
from ledger import inkind, projects, welfare
from ledger.journal import LedgerRefusal
from ledger.models import WELFARE_POST_TYPES
from ledger.permissions import Actor, allowed
from web.deps import CurrentUser, csrf_protect, page_allowed
from web.i18n import N_
from web.i18n import gettext as _
from web.ledger_pages import (
    MAX_PAGE,
    PLAIN,
    DateText,
    clean,
    export_format,
    export_links,
    export_response,
    html_or_partial,
    pager,
    parse_date,
    url_with,
)
from web.problem_text import problem_message
from web.routes import render

router = APIRouter(include_in_schema=False)



POST_TYPE_NAMES = {"general": N_("General public-welfare post"), "forest": N_("Forest ranger"),
                   "grassland": N_("Grassland keeper"), "road": N_("Road keeper"), "pv": N_("PV-station keeper")}
BUCKET_NAMES = {"0-30": N_("0–30 days"), "31-90": N_("31–90 days"), "91-180": N_("91–180 days"),
                "180+": N_("Over 180 days")}
assert tuple(POST_TYPE_NAMES) == WELFARE_POST_TYPES and tuple(BUCKET_NAMES) == inkind.BUCKET_NAMES

ShortText = Annotated[str | None, Query(max_length=64, pattern=PLAIN)]
PageParam = Annotated[int, Query(ge=1, le=MAX_PAGE)]
FormText = Annotated[str, Form(max_length=64)]
_PERIOD = re.compile(r"^\d{4}-\d{2}$")


def _labels() -> dict:
    return {"post_type_names": POST_TYPE_NAMES, "bucket_names": BUCKET_NAMES, "bucket_keys": inkind.BUCKET_NAMES}


def may_roll(actor: Actor) -> bool:
    """The wage-roll form is for whoever may both keep the roster and prepare a payment roll."""
    return allowed(actor, "welfare.manage") and allowed(actor, "payment.prepare")


def batch_url(batch_no: str) -> str:
    # A batch number may hold '/' or '.': quoted whole, as the payment pages link it.
    return "/payments/" + quote(batch_no, safe="")


# ---------------------------------------------------------------------------------------------
# The roster


def _post_filter(post_type: str | None, township: str | None, project: str | None, active: str | None,
                 q: str | None, as_of: str | None) -> tuple[welfare.PostFilter, dict, list[str]]:
    problems: list[str] = []
    post_type = clean(post_type)
    if post_type is not None and post_type not in WELFARE_POST_TYPES:
        problems.append(_("Unknown post type."))
        post_type = None
    active = clean(active)
    if active not in (None, "yes", "no"):
        problems.append(_("Unknown choice for “in post”."))
        active = None
    day = parse_date(as_of, _("On"), problems)
    f = welfare.PostFilter(post_type=post_type, township=clean(township), project=clean(project),
                           active=None if active is None else active == "yes", q=clean(q), as_of=day)
    params = {"post_type": post_type, "township": f.township, "project": f.project, "active": active, "q": f.q,
              "as_of": day.isoformat() if day else None}
    return f, params, problems


def _roll_context(engine, actor: Actor, **values) -> dict:
    if not may_roll(actor):
        return {"roll": None}
    choices = projects.list_projects(engine, actor, projects.ProjectFilter(industry=welfare.WELFARE_INDUSTRY),
                                     page_size=200).items
    today = dt.date.today()
    last_month = (today.replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
    roll = {"projects": [(p.code, p.name) for p in choices], "project": "", "period": last_month,
            "batch_no": "", "paid_on": today.isoformat(), "problems": [], "done": None}
    roll.update(values)
    return {"roll": roll}


def _posts_context(engine, actor: Actor, f: welfare.PostFilter, params: dict, problems: list[str],
                   page: int) -> dict:
    ctx: dict = {"params": params, "problems": problems, "result": None, "pager": None, "summary": None,
                 "exports": export_links("/posts/export", params), "types": WELFARE_POST_TYPES, **_labels()}
    if not problems:
        result = welfare.list_posts(engine, actor, f, page)
        ctx.update(result=result, pager=pager("/posts", params, result),
                   summary=welfare.roster_summary(engine, actor, f))
    return ctx


@router.get("/posts", response_class=HTMLResponse)
def posts_page(
    request: Request,
    engine: EngineDep,
    actor: CurrentUser,
    post_type: ShortText = None,
    township: ShortText = None,
    project: ShortText = None,
    active: ShortText = None,
    q: ShortText = None,
    as_of: DateText = None,
    page: PageParam = 1,
) -> Response:
    page_allowed(actor, "welfare.read")
    f, params, problems = _post_filter(post_type, township, project, active, q, as_of)
    ctx = _posts_context(engine, actor, f, params, problems, page)
    ctx.update(_roll_context(engine, actor))
    return html_or_partial(request, "posts.html", "partials/posts_results.html", ctx, 422 if problems else 200,
                           push_url=url_with("/posts", params, page=page if page > 1 else None))


@router.get("/posts/export")
def posts_export(
    engine: EngineDep,
    actor: CurrentUser,
    format: Annotated[str, Query(max_length=8)] = "xlsx",
    post_type: ShortText = None,
    township: ShortText = None,
    project: ShortText = None,
    active: ShortText = None,
    q: ShortText = None,
    as_of: DateText = None,
) -> Response:
    page_allowed(actor, "welfare.read")
    fmt = export_format(format)
    f, _params, problems = _post_filter(post_type, township, project, active, q, as_of)
    if problems:
        raise HTTPException(status_code=422, detail="; ".join(problems))
    name, data = welfare.export_posts(engine, actor, f, fmt)
    return export_response(name, data, fmt)


@router.post("/posts/wage-roll", response_class=HTMLResponse, dependencies=[Depends(csrf_protect)])
def posts_wage_roll(
    request: Request,
    engine: EngineDep,
    actor: CurrentUser,
    project: FormText,
    period: Annotated[str, Form(max_length=16)],
    batch_no: FormText,
    paid_on: Annotated[str, Form(max_length=32)],
) -> Response:
    page_allowed(actor, "welfare.manage")
    page_allowed(actor, "payment.prepare")
    values = {"project": project.strip(), "period": period.strip(), "batch_no": batch_no.strip(),
              "paid_on": paid_on.strip()}
    problems: list[str] = []
    if not values["project"]:
        problems.append(_("Choose the project that pays the posts."))
    if not _PERIOD.match(values["period"]) or welfare.month_bounds(values["period"]) is None:
        problems.append(_("The month is written YYYY-MM, e.g. 2026-04."))
    if not values["batch_no"]:
        problems.append(_("Give the new batch a number."))
    day = parse_date(values["paid_on"], _("Pay date"), problems)
    if day is None and not problems:
        problems.append(_("Give the pay date."))
    f, params, _problems = _post_filter(None, None, None, None, None, None)
    out = None
    if not problems:
        try:
            out = welfare.wage_roll(engine, actor, values["project"], values["period"], values["batch_no"], day)
        except LedgerRefusal as exc:
            # The roll's own problems say enough; a row's (from ledger.payments) names its payment ref.
            problems = [problem_message(p.message) if p.where.startswith("wage roll")
                        else f"{p.where}: {problem_message(p.message)}"
                        for p in exc.problems]
    if out is not None and out.batch_no is not None:
        return RedirectResponse(batch_url(out.batch_no), status_code=303)
    ctx = _posts_context(engine, actor, f, params, [], 1)
    ctx.update(_roll_context(engine, actor, problems=problems, done=out, **values))
    ctx["batch_url"] = batch_url
    return render(request, "posts.html", ctx, 422 if problems else 200)


# ---------------------------------------------------------------------------------------------
# In-kind advances


@router.get("/advances", response_class=HTMLResponse)
def advances_page(request: Request, engine: EngineDep, actor: CurrentUser, as_of: DateText = None) -> Response:
    page_allowed(actor, "payment.read")
    problems: list[str] = []
    day = parse_date(as_of, _("As of"), problems)
    params = {"as_of": day.isoformat() if day else None}
    ctx: dict = {"params": params, "problems": problems, "aging": None,
                 "exports": export_links("/advances/export", params), **_labels()}
    if problems:
        return render(request, "advances.html", ctx, 422)
    ctx["aging"] = inkind.advance_aging(engine, actor, day)
    return render(request, "advances.html", ctx)


@router.get("/advances/export")
def advances_export(engine: EngineDep, actor: CurrentUser, format: Annotated[str, Query(max_length=8)] = "xlsx",
                    as_of: DateText = None) -> Response:
    page_allowed(actor, "payment.read")
    fmt = export_format(format)
    problems: list[str] = []
    day = parse_date(as_of, _("As of"), problems)
    if problems:
        raise HTTPException(status_code=422, detail="; ".join(problems))
    name, data = inkind.export_advance_aging(engine, actor, day, fmt)
    return export_response(name, data, fmt)
