"""Money: integer fen in storage, `Decimal` yuan in code, decimal strings in files and JSON.

Owns parsing and formatting of amounts and the one rounding rule (ROUND_HALF_UP to the fen,
四舍五入). Nothing here ever touches a float: a float amount is refused, not converted.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

FEN_PER_YUAN = 100
# 10^15 fen is ten trillion yuan: far above any county budget, and far inside int64, so a sum of
# a few million postings can never overflow a BIGINT column.
MAX_ABS_FEN = 10**15

# `\Z`, not `$`: `$` also matches before a trailing newline, and Decimal() ignores whitespace.
_STRICT_YUAN = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]{1,2})?\Z")
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
    m = _STRICT_YUAN.match(text)
    if m is None:
        raise MoneyError(f"amount {text!r} is not a decimal with at most two places")
    # The regex admits only ASCII digits, so whole yuan and at most two decimals give exact integer
    # fen without Decimal (an import parses hundreds of thousands of these).
    whole, frac = m.group(1, 2)
    if len(whole) > 16:  # far beyond MAX_ABS_FEN; also keeps int() clear of its digit limit
        raise MoneyError(f"amount {text!r} is out of range")
    fen = int(whole) * FEN_PER_YUAN + (int(frac[1:].ljust(2, "0")) if frac else 0)
    if text[0] == "-":
        fen = -fen
    if abs(fen) > MAX_ABS_FEN:
        raise MoneyError(f"amount {text!r} is out of range")
    return fen


_YI_FEN = 100_000_000 * FEN_PER_YUAN  # 1 亿 yuan in fen
_WAN_FEN = 10_000 * FEN_PER_YUAN


def format_money(fen: int) -> str:
    """For screens: '¥1,234.50', '-¥0.05'. Exact; grouping by thousands."""
    assert isinstance(fen, int) and not isinstance(fen, bool)
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), FEN_PER_YUAN)
    return f"{sign}¥{whole:,}.{cents:02d}"


def format_money_short(fen: int, locale: str = "zh") -> str:
    """Large sums the way officers say them: '1.23亿', '356.70万' (zh); '¥123.46M' (en).

    Rounded half up for display only; stored amounts are never rounded.
    """
    assert isinstance(fen, int) and not isinstance(fen, bool)
    sign = "-" if fen < 0 else ""
    a = abs(fen)
    if locale == "zh":
        if a >= _YI_FEN:
            return f"{sign}{(Decimal(a) / _YI_FEN).quantize(_CENT, rounding=ROUND_HALF_UP)}亿"
        if a >= _WAN_FEN:
            return f"{sign}{(Decimal(a) / _WAN_FEN).quantize(_CENT, rounding=ROUND_HALF_UP)}万"
        return format_money(fen)
    if a >= 10**6 * FEN_PER_YUAN:
        return f"{sign}¥{(Decimal(a) / (10**6 * FEN_PER_YUAN)).quantize(_CENT, rounding=ROUND_HALF_UP)}M"
    return format_money(fen)
