"""JSON Lines journal files (history migrated from a legacy system). Pure parsing, no database.

One entry a line: {"key", "date", "kind", "memo", "postings": [{"account", "fund", "amount",
"party"?}]}. Amounts are decimal strings in yuan; a JSON number is refused because it may
already have been rounded through a float by whoever wrote the file.
"""

from __future__ import annotations

import datetime as dt
import json

from ledger.entries import EntryDraft, PostingDraft, Problem, check_draft
from ledger.money import MoneyError, parse_yuan_strict

MAX_LINE_BYTES = 1 << 20  # one entry a line; a megabyte line is not an entry, it is a broken file
MAX_LINES = 5_000_000
MAX_FILE_BYTES = 4 << 30
_ALLOWED_KEYS = {"key", "date", "kind", "memo", "postings"}
_ALLOWED_POSTING_KEYS = {"account", "fund", "amount", "party"}


def parse_line(raw: bytes, line_no: int, maker_id: int | None = None) -> tuple[EntryDraft | None, list[Problem]]:
    """One line -> (draft, []) or (None, problems). Blank lines are the caller's business.

    A returned draft has passed `check_draft` (so `journal.post(..., checked=True)` may take it).
    """
    draft = _parse_good_line(raw, maker_id)
    if draft is not None:
        return draft, []
    return _parse_line_with_problems(raw, line_no, maker_id)


def _parse_good_line(raw: bytes, maker_id: int | None) -> EntryDraft | None:
    """The fast path for a line with nothing wrong: the same checks as below, without collecting
    problems. Any doubt returns None, and the full path then names every problem."""
    if len(raw) > MAX_LINE_BYTES:
        return None
    try:
        obj = json.loads(raw.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError and JSONDecodeError both
        return None
    # json.loads makes exact dicts, lists and strs, so `type(x) is` is isinstance here.
    if type(obj) is not dict or not obj.keys() <= _ALLOWED_KEYS:
        return None
    key, raw_date, kind = obj.get("key"), obj.get("date"), obj.get("kind")
    memo, raw_postings = obj.get("memo", ""), obj.get("postings")
    if (type(key) is not str or not key or type(raw_date) is not str or len(raw_date) != 10
            or type(kind) is not str or kind == "reversal" or type(memo) is not str
            or type(raw_postings) is not list):
        return None
    try:
        on = dt.date.fromisoformat(raw_date)
    except ValueError:
        return None
    postings = []
    for rp in raw_postings:
        if type(rp) is not dict or not rp.keys() <= _ALLOWED_POSTING_KEYS:
            return None
        account, fund, party = rp.get("account"), rp.get("fund"), rp.get("party")
        if type(account) is not str or type(fund) is not str or (party is not None and type(party) is not str):
            return None
        try:
            amount_fen = parse_yuan_strict(rp.get("amount"))
        except MoneyError:
            return None
        postings.append(PostingDraft(account, fund, amount_fen, party))
    draft = EntryDraft(key=key, effective_date=on, kind=kind, memo=memo, postings=tuple(postings),
                       maker_id=maker_id)
    return None if check_draft(draft, "") else draft


def _parse_line_with_problems(raw: bytes, line_no: int,
                              maker_id: int | None) -> tuple[EntryDraft | None, list[Problem]]:
    where = f"line {line_no}"

    def problem(field: str, value: object, message: str) -> Problem:
        return Problem(where, field, str(value)[:200], message, row=line_no)

    if len(raw) > MAX_LINE_BYTES:
        return None, [problem("line", f"{len(raw)} bytes", f"line longer than {MAX_LINE_BYTES} bytes")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, [problem("line", raw[:40], "not UTF-8")]
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, [problem("line", text[:80], f"not JSON: {exc.msg} at column {exc.colno}")]
    if not isinstance(obj, dict):
        return None, [problem("line", text[:80], "each line must be one JSON object")]
    problems: list[Problem] = []
    extra = set(obj) - _ALLOWED_KEYS
    if extra:
        problems.append(problem("line", ",".join(sorted(extra)), "unknown field(s)"))
    key = obj.get("key")
    if not isinstance(key, str) or not key:
        problems.append(problem("key", key, "key must be a non-empty string"))
    raw_date = obj.get("date")
    on: dt.date | None = None
    try:
        if not isinstance(raw_date, str) or len(raw_date) != 10:
            raise ValueError
        on = dt.date.fromisoformat(raw_date)
    except ValueError:
        problems.append(problem("date", raw_date, "date must be YYYY-MM-DD"))
    kind = obj.get("kind")
    if not isinstance(kind, str):
        problems.append(problem("kind", kind, "kind must be a string"))
    memo = obj.get("memo", "")
    if not isinstance(memo, str):
        problems.append(problem("memo", memo, "memo must be a string"))
    raw_postings = obj.get("postings")
    postings: list[PostingDraft] = []
    if not isinstance(raw_postings, list):
        problems.append(problem("postings", raw_postings, "postings must be a list"))
        raw_postings = []
    for i, rp in enumerate(raw_postings):
        at = f"postings[{i}]"
        if not isinstance(rp, dict):
            problems.append(problem(at, rp, "a posting must be an object"))
            continue
        extra = set(rp) - _ALLOWED_POSTING_KEYS
        if extra:
            problems.append(problem(at, ",".join(sorted(extra)), "unknown field(s)"))
        try:
            amount_fen = parse_yuan_strict(rp.get("amount"))
        except MoneyError as exc:
            problems.append(problem(f"{at}.amount", rp.get("amount"), str(exc)))
            continue
        account, fund, party = rp.get("account"), rp.get("fund"), rp.get("party")
        if not isinstance(account, str):
            problems.append(problem(f"{at}.account", account, "account must be a string"))
            continue
        if not isinstance(fund, str):
            problems.append(problem(f"{at}.fund", fund, "fund must be a string"))
            continue
        if party is not None and not isinstance(party, str):
            problems.append(problem(f"{at}.party", party, "party must be a string"))
            continue
        postings.append(PostingDraft(account, fund, amount_fen, party))
    if problems:
        return None, problems
    assert on is not None and isinstance(key, str) and isinstance(kind, str) and isinstance(memo, str)
    draft = EntryDraft(key=key, effective_date=on, kind=kind, memo=memo, postings=tuple(postings),
                       maker_id=maker_id)
    if kind == "reversal":
        return None, [problem("kind", kind, "reversals are posted with `huimin journal reverse`, not imported")]
    checked = [Problem(p.where, p.field, p.value, p.message, row=line_no) for p in check_draft(draft, where)]
    if checked:
        return None, checked
    return draft, []
