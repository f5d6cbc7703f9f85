"""Money: integer fen in storage, `Decimal` yuan in code, decimal strings in files and JSON.

Owns parsing and formatting of amounts and the one rounding rule (ROUND_HALF_UP to the fen,
四舍五入). Nothing here ever touches a float: a float amount is refused, not converted.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

FEN_PER_YUAN = 100
# 10^15 fen is ten trillion yuan: far above any county budget, and far inside int64, so a sum of
# a few million postings can never overflow a BIGINT column.
MAX_ABS_FEN = 10**15

_STRICT_YUAN = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]{1,2})?$")
_CENT = Decimal("0.01")


class MoneyError(ValueError):
    """An amount that cannot be taken as money; the message says why, in the officer's terms."""


def round_fen(value: Decimal) -> int:
    """Round a Decimal number of fen to a whole fen, half up (四舍五入)."""
    assert isinstance(value, Decimal), "money is Decimal in code, never float"
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def yuan_to_fen(yuan: Decimal) -> int:
    """Convert Decimal yuan to integer fen, rounding half up at the fen."""
    assert isinstance(yuan, Decimal), "money is Decimal in code, never float"
    return round_fen(yuan * FEN_PER_YUAN)


def fen_to_yuan(fen: int) -> Decimal:
    assert isinstance(fen, int) and not isinstance(fen, bool)
    return (Decimal(fen) / FEN_PER_YUAN).quantize(_CENT)


def format_yuan(fen: int) -> str:
    """The file/JSON form: '1234.50', '-0.05'. Exact, two decimals, no grouping."""
    assert isinstance(fen, int) and not isinstance(fen, bool)
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), FEN_PER_YUAN)
    return f"{sign}{whole}.{cents:02d}"


def parse_yuan_strict(text: object) -> int:
    """Parse a machine-written amount ('-12.34', '5', '0.5') to fen.

    Used for JSON Lines and API bodies, where the writer is a program: at most two decimals, no
    grouping, no currency sign, and never a JSON number (it may already have lost precision as a
    float). Raises MoneyError naming the value.
    """
    if isinstance(text, bool) or not isinstance(text, str):
        raise MoneyError(f"amount must be a decimal string such as \"12.34\", got {text!r}")
    if not _STRICT_YUAN.match(text):
        raise MoneyError(f"amount {text!r} is not a decimal with at most two places")
    try:
        fen = int((Decimal(text) * FEN_PER_YUAN).to_integral_exact())
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only valid decimals
        raise MoneyError(f"amount {text!r} is not a number") from exc
    if abs(fen) > MAX_ABS_FEN:
        raise MoneyError(f"amount {text!r} is out of range")
    return fen
