"""Every user-visible string is translatable, and Chinese is complete."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg

from web import i18n

ROOT = Path(__file__).resolve().parents[2]


def _extracted_ids() -> set[str]:
    with (ROOT / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    ids: set[str] = set()

    for _file, _line, message, _comments, _ctx in extract_from_dir(ROOT, method_map, options_map,
                                                                    directory_filter=None):
        ids.add(message if isinstance(message, str) else message[0])
    return ids


def test_every_extracted_message_has_a_chinese_translation():
    ids = _extracted_ids()
    assert len(ids) > 50, "extraction found too little: is babel.cfg right?"
    zh = i18n.catalogue("zh")
    missing = sorted(m for m in ids if m not in zh)
    assert not missing, f"untranslated into Chinese: {missing[:20]}"


def test_chinese_is_the_default_and_money_and_dates_format_as_officers_write_them():
    import datetime as dt

    assert i18n.pick_locale(None, None) == "zh"
    assert i18n.pick_locale("en", None) == "en"
    assert i18n.pick_locale("xx", "en-GB,en") == "en"
    token = i18n.current_locale.set("zh")
    try:
        assert i18n.gettext("Sign out") != "Sign out"
        assert i18n.money(123450) == "¥1,234.50"
        assert i18n.money_short(123_456_789_00) == "1.23亿"
        assert i18n.date(dt.date(2026, 3, 2)) == "2026年3月2日"
    finally:
        i18n.current_locale.reset(token)
    token = i18n.current_locale.set("en")
    try:
        assert i18n.gettext("Sign out") == "Sign out"
        assert i18n.date(dt.date(2026, 3, 2)) == "2026-03-02"
    finally:
        i18n.current_locale.reset(token)
