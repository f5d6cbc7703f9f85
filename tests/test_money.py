"""ledger/money.py: integer fen in storage, Decimal in code, decimal strings in files. Never floats.

Pure unit tests, no database (DESIGN.md §3 invariant 4).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.money import (
    MAX_ABS_FEN,
    MoneyError,
    fen_to_yuan,
    format_yuan,
    parse_yuan_strict,
    round_fen,
    yuan_to_fen,
)

# --------------------------------------------------------------------------------------------
# parse_yuan_strict


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("0", 0),
        ("5", 500),
        ("0.5", 50),
        ("0.05", 5),
        ("0.50", 50),
        ("12.34", 1234),
        ("-12.34", -1234),
        ("1234.50", 123450),
        ("-0.01", -1),
        ("10000000000000", MAX_ABS_FEN),  # the largest amount allowed, exactly
        ("-10000000000000.00", -MAX_ABS_FEN),
    ],
)
def test_parse_yuan_strict_accepts_machine_written_decimals(text, fen):
    got = parse_yuan_strict(text)
    assert got == fen
    assert type(got) is int


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "1.234",  # more than two places
        "0.001",
        "1,234.00",  # grouping
        "1 234",
        "¥5",  # currency sign
        "5元",
        "+5",
        "01",  # leading zero
        "00.5",
        ".5",
        "5.",
        "1e3",
        "1E2",
        "NaN",
        "Infinity",
        "-",
        "--1",
        " 5",
        "5 ",
        "5\n",  # `$` in a regex matches before a trailing newline; the parser must not
        "\n5",
        "５",  # full-width digit
        "0x10",
        "10000000000000.01",  # one fen past the range
        "-10000000000000.01",
        "99999999999999999999",
    ],
)
def test_parse_yuan_strict_refuses_anything_else(text):
    with pytest.raises(MoneyError):
        parse_yuan_strict(text)


@pytest.mark.parametrize("value", [12.5, 0.1, 5, 0, True, False, None, Decimal("1.00"), b"1.00", ["1.00"]])
def test_parse_yuan_strict_refuses_non_strings_including_floats(value):
    with pytest.raises(MoneyError) as exc:
        parse_yuan_strict(value)
    assert "decimal string" in str(exc.value)


def test_money_error_names_the_value():
    with pytest.raises(MoneyError) as exc:
        parse_yuan_strict("1.234")
    assert "'1.234'" in str(exc.value)


@given(st.integers(min_value=-MAX_ABS_FEN, max_value=MAX_ABS_FEN))
def test_format_then_parse_round_trips(fen):
    assert parse_yuan_strict(format_yuan(fen)) == fen


# --------------------------------------------------------------------------------------------
# round_fen and yuan_to_fen: ROUND_HALF_UP (四舍五入), away from zero on halves


@pytest.mark.parametrize(
    ("value", "fen"),
    [
        ("0.5", 1),
        ("1.5", 2),
        ("2.5", 3),  # banker's rounding would give 2
        ("-0.5", -1),
        ("-2.5", -3),
        ("-1.5", -2),
        ("0.4999999", 0),
        ("0.5000001", 1),
        ("-0.4999999", 0),
        ("2.4", 2),
        ("2.6", 3),
        ("-2.6", -3),
        ("0", 0),
        ("123456789012.5", 123456789013),
    ],
)
def test_round_fen_is_half_up(value, fen):
    got = round_fen(Decimal(value))
    assert got == fen
    assert type(got) is int


@pytest.mark.parametrize(
    ("yuan", "fen"),
    [
        ("0.005", 1),
        ("0.015", 2),
        ("0.025", 3),  # half-even would give 2
        ("1.005", 101),  # exact in Decimal (a float would be 1.00499999…)
        ("-0.005", -1),
        ("-0.025", -3),
        ("0.0049", 0),
        ("1234.5", 123450),
        ("1234.567", 123457),
    ],
)
def test_yuan_to_fen_rounds_half_up_at_the_fen(yuan, fen):
    assert yuan_to_fen(Decimal(yuan)) == fen


@pytest.mark.parametrize("fn", [round_fen, yuan_to_fen])
@pytest.mark.parametrize("value", [2.5, 0.1, 1.005, 3])
def test_rounding_refuses_floats_and_non_decimals(fn, value):
    with pytest.raises(AssertionError):
        fn(value)


@pytest.mark.parametrize("value", [1.0, True, "100"])
def test_fen_functions_refuse_non_integers(value):
    with pytest.raises(AssertionError):
        format_yuan(value)
    with pytest.raises(AssertionError):
        fen_to_yuan(value)


@pytest.mark.parametrize(
    ("fen", "text"),
    [(0, "0.00"), (5, "0.05"), (-5, "-0.05"), (50, "0.50"), (123450, "1234.50"), (-100, "-1.00"),
     (10**15, "10000000000000.00")],
)
def test_format_yuan_is_exact_with_two_decimals(fen, text):
    assert format_yuan(fen) == text
    assert fen_to_yuan(fen) == Decimal(text)
    assert str(fen_to_yuan(fen)) == text


@given(st.integers(min_value=-MAX_ABS_FEN, max_value=MAX_ABS_FEN))
def test_fen_to_yuan_to_fen_round_trips(fen):
    assert yuan_to_fen(fen_to_yuan(fen)) == fen
