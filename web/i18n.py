"""Languages: Simplified Chinese first (default), English second.

Message ids in templates and code are English; `translations/zh/LC_MESSAGES/messages.po` holds
the Chinese. Catalogues are read with Babel at start-up (no compile step). The current request's
locale lives in a context variable set by the middleware, so `_()` works in templates and code.
"""

from __future__ import annotations

import contextvars
import datetime as dt
from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

from ledger.money import format_money, format_money_short

LOCALES = ("zh", "en")
DEFAULT_LOCALE = "zh"
LANG_COOKIE = "huimin_lang"
TRANSLATIONS_DIR = Path(__file__).parent / "translations"

current_locale: contextvars.ContextVar[str] = contextvars.ContextVar("huimin_locale", default=DEFAULT_LOCALE)


@cache
def catalogue(locale: str) -> dict[str, str]:
    path = TRANSLATIONS_DIR / locale / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return {}
    with path.open("rb") as fh:
        cat = read_po(fh, locale="zh_Hans_CN" if locale == "zh" else locale)
    return {m.id: m.string for m in cat if m.id and isinstance(m.id, str) and m.string}


def N_(message: str) -> str:
    """Marks a message id for extraction (labels in tables of module constants); translated where shown."""
    return message


def gettext(message: str) -> str:
    return catalogue(current_locale.get()).get(message, message)


def translate_value(value: object) -> str:
    """Translate a data value (an entry kind, a role) as plain text, to be autoescaped."""
    text = "" if value is None else str(value)
    return str(gettext(text))


def ngettext(singular: str, plural: str, n: int) -> str:
    return gettext(singular if n == 1 else plural)


def pick_locale(cookie: str | None, accept_language: str | None) -> str:
    if cookie in LOCALES:
        return cookie
    if accept_language and accept_language.lower().startswith("en"):
        return "en"
    return DEFAULT_LOCALE


def money(fen: int | None) -> str:
    return "" if fen is None else format_money(int(fen))


def money_short(fen: int | None) -> str:
    return "" if fen is None else format_money_short(int(fen), current_locale.get())


def date(value: dt.date | dt.datetime | None) -> str:
    """Dates as officers write them: 2026年3月2日 (zh), 2026-03-02 (en)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        d = value.date()
        t = value.strftime("%H:%M:%S")
        return f"{date(d)} {t}"
    if current_locale.get() == "zh":
        return f"{value.year}年{value.month}月{value.day}日"
    return value.isoformat()
