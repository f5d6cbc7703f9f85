"""Jinja2 templates (autoescaped) with the i18n extension and the display filters."""

from __future__ import annotations

from pathlib import Path

import jinja2
from fastapi.templating import Jinja2Templates

from web import i18n
from web.problem_text import problem_message

TEMPLATES_DIR = Path(__file__).parent / "templates"

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
    autoescape=True,  # every template, whatever its file name
    extensions=["jinja2.ext.i18n"],
)
templates = Jinja2Templates(env=_env)
templates.env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
# Data values (kinds, roles, statuses, messages) are translated with `| t`, never `_()`: Jinja's
# newstyle `_()` marks its result safe and %-formats it, which is right for our own message ids
# and wrong for anything that came from data.
templates.env.filters["t"] = i18n.translate_value
# A domain problem's message (ledger.entries.Problem.message) in the current locale: web/problem_text.py.
templates.env.filters["problem"] = problem_message
templates.env.filters["money"] = i18n.money
templates.env.filters["money_short"] = i18n.money_short
templates.env.filters["date"] = i18n.date
templates.env.globals["current_locale"] = i18n.current_locale.get
