"""ledger/ids.py: resident IDs (GB 11643-1999) and bank account numbers (Luhn). Pure, no database.

Valid numbers are built here with the published weights and check characters, never taken from
the implementation's output; two samples come from the standard itself.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.ids import (
    FEMALE,
    MALE,
    age_on,
    bank_account_problem,
    luhn_ok,
    mask_account,
    mask_id,
    normalise_account,
    parse_resident_id,
)

# GB 11643-1999, section 6: the weights and the check characters as published.
WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
CHECK = "10X98765432"
AS_OF = dt.date(2026, 3, 2)


def with_check(first17: str) -> str:
    return first17 + CHECK[sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True)) % 11]


def luhn_check_digit(payload: str) -> str:
    """The textbook statement: from the right, double every second digit of payload+check,
    subtract 9 from results over 9, and pick the check digit that makes the sum a multiple of 10."""
    for d in "0123456789":
        digits = [int(c) for c in payload + d][::-1]
        total = sum(x if i % 2 == 0 else (2 * x - 9 if 2 * x > 9 else 2 * x) for i, x in enumerate(digits))
        if total % 10 == 0:
            return d
    raise AssertionError("unreachable")


def test_the_published_weights_are_2_to_the_power_mod_11():
    # ISO 7064 MOD 11-2: the weight of position i (1-based, left to right) is 2^(18-i) mod 11.
    assert WEIGHTS == [pow(2, 17 - i, 11) for i in range(17)]


# --------------------------------------------------------------------------------------------
# Resident IDs


@pytest.mark.parametrize(
    ("number", "birth", "sex"),
    [
        # The worked example of GB 11643-1999 (Beijing, Chaoyang): check character X.
        ("11010519491231002X", dt.date(1949, 12, 31), FEMALE),
        # Built here: Yutian county (653226), the reference customer.
        (with_check("65322619900101001"), dt.date(1990, 1, 1), MALE),
        (with_check("65322620080229002"), dt.date(2008, 2, 29), FEMALE),
        (with_check("81000019000101003"), dt.date(1900, 1, 1), MALE),  # Hong Kong, the oldest allowed year
    ],
)
def test_valid_ids(number, birth, sex):
    rid, problem = parse_resident_id(number, AS_OF)
    assert problem is None
    assert rid is not None
    assert (rid.number, rid.birth_date, rid.sex) == (number, birth, sex)


def test_the_standards_second_example_has_a_good_checksum_but_a_birth_year_before_1900():
    # 440524188001010014 (Guangdong, born 1880-01-01) is the standard's other worked example.
    assert with_check("44052418800101001") == "440524188001010014"
    rid, problem = parse_resident_id("440524188001010014", AS_OF)
    assert rid is None
    assert problem == "the birth date in the number, 1880-01-01, is before 1900"


def test_lower_case_x_full_width_digits_and_spaces_are_normalised():
    rid, problem = parse_resident_id(" 110105 19491231 002x ", AS_OF)
    assert problem is None and rid is not None and rid.number == "11010519491231002X"
    full_width = "１１０１０５１９４９１２３１００２Ｘ"
    rid, problem = parse_resident_id(full_width, AS_OF)
    assert problem is None and rid is not None and rid.number == "11010519491231002X"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "ID number is missing"),
        ("1101051949123100", "an ID number has 18 characters; this one has 16"),
        ("11010519491231002X1", "an ID number has 18 characters; this one has 19"),
        ("653226900101123", "this is an old 15-digit ID number; enter the 18-digit number of the current "
                            "(second-generation) ID card"),
        ("11010519491231OO2X", "character 15 is 'O' (the letter O instead of 0?); the first 17 characters of an ID "
                               "number must be digits"),
        ("1101051949123100-X", "character 17 is '-'; the first 17 characters of an ID number must be digits"),
        ("11010519491231002Y", "the last character must be a digit or X, not 'Y'"),
        (with_check("99010519491231002"), "the first two digits 99 are not a province code (11–82; 65 is Xinjiang): "
                                          "the region part of the number is mistyped"),
        (with_check("10010519491231002"), "the first two digits 10 are not a province code (11–82; 65 is Xinjiang): "
                                          "the region part of the number is mistyped"),
        (with_check("65322619990231002"), "characters 7–14 are the birth date (YYYYMMDD), but 19990231 is not a real "
                                          "date: a digit of the birth date is mistyped"),
        (with_check("65322620230229002"), "characters 7–14 are the birth date (YYYYMMDD), but 20230229 is not a real "
                                          "date: a digit of the birth date is mistyped"),
        (with_check("65322620260303002"), "the birth date in the number, 2026-03-03, is after 2026-03-02"),
        ("110105194912310021", "the check character (the last one) does not match the other 17 digits: a digit is "
                               "mistyped or two are swapped; compare with the ID card"),
    ],
)
def test_invalid_ids_say_exactly_what_is_wrong(text, message):
    rid, problem = parse_resident_id(text, AS_OF)
    assert rid is None
    assert problem == message


def test_born_on_the_as_of_day_is_allowed():
    number = with_check("65322620260302001")
    rid, problem = parse_resident_id(number, AS_OF)
    assert problem is None and rid is not None and rid.birth_date == AS_OF


def test_a_very_long_input_is_refused_without_scanning_it():
    rid, problem = parse_resident_id("1" * 10_000, AS_OF)
    assert rid is None and problem == "an ID number has 18 characters; this is 10000 characters long"


PROVINCES = [11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53,
             54, 61, 62, 63, 64, 65, 71, 81, 82]


@st.composite
def resident_ids(draw):
    province = draw(st.sampled_from(PROVINCES))
    rest = draw(st.integers(0, 9999))
    birth = draw(st.dates(dt.date(1900, 1, 1), AS_OF))
    seq = draw(st.integers(0, 999))
    first17 = f"{province:02d}{rest:04d}{birth:%Y%m%d}{seq:03d}"
    return with_check(first17), birth, seq


@given(resident_ids())
def test_round_trip(generated):
    number, birth, seq = generated
    rid, problem = parse_resident_id(number.lower(), AS_OF)
    assert problem is None and rid is not None
    assert rid.number == number
    assert rid.birth_date == birth
    assert rid.sex == (MALE if seq % 2 else FEMALE)
    masked = mask_id(number)
    assert masked == number[:6] + "********" + number[14:]


@given(resident_ids(), st.integers(0, 17), st.integers(1, 10))
def test_any_single_substitution_is_refused(generated, position, shift):
    number = generated[0]
    alphabet = "0123456789X" if position == 17 else "0123456789"
    old = alphabet.index(number[position])
    new = alphabet[(old + shift) % len(alphabet)]
    if new == number[position]:
        return
    changed = number[:position] + new + number[position + 1:]
    rid, problem = parse_resident_id(changed, AS_OF)
    assert rid is None and problem


@given(resident_ids(), st.integers(0, 15))
def test_any_swap_of_two_adjacent_different_digits_is_refused(generated, position):
    number = generated[0]
    a, b = number[position], number[position + 1]
    if a == b:
        return
    swapped = number[:position] + b + a + number[position + 2:]
    rid, problem = parse_resident_id(swapped, AS_OF)
    assert rid is None and problem


def test_mask_id():
    assert mask_id("65322619900101001X") == "653226********001X"
    assert mask_id("65322619900101001x") == "653226********001X"
    assert mask_id("653226900101123") == "653226******123"  # old 15-digit number: the birth date hidden
    assert mask_id("12345") == "*2345"
    assert mask_id("1234") == "****"
    assert mask_id("") == ""


# --------------------------------------------------------------------------------------------
# Age


@pytest.mark.parametrize(
    ("birth", "day", "age"),
    [
        (dt.date(1990, 3, 2), dt.date(2026, 3, 1), 35),
        (dt.date(1990, 3, 2), dt.date(2026, 3, 2), 36),  # on the birthday
        (dt.date(2008, 2, 29), dt.date(2026, 2, 28), 17),  # leapling, common year: not yet
        (dt.date(2008, 2, 29), dt.date(2026, 3, 1), 18),
        (dt.date(2008, 2, 29), dt.date(2028, 2, 29), 20),
        (dt.date(2026, 3, 2), dt.date(2026, 3, 2), 0),
    ],
)
def test_age_on(birth, day, age):
    assert age_on(birth, day) == age


def test_age_before_birth_is_a_callers_bug():
    with pytest.raises(ValueError):
        age_on(dt.date(2000, 1, 2), dt.date(2000, 1, 1))


@given(st.dates(dt.date(1900, 1, 1), dt.date(2050, 12, 31)), st.integers(0, 120))
def test_age_on_the_birthday_is_the_difference_of_years(birth, years):
    if birth.month == 2 and birth.day == 29:
        return
    if birth.year + years > 9999:
        return
    assert age_on(birth, birth.replace(year=birth.year + years)) == years
    if years:
        assert age_on(birth, birth.replace(year=birth.year + years) - dt.timedelta(days=1)) == years - 1


# --------------------------------------------------------------------------------------------
# Bank accounts


@pytest.mark.parametrize(
    "number",
    ["79927398713",  # the classic worked example of the Luhn algorithm
     "4111111111111111", "5500000000000004", "378282246310005", "6011111111111117"],  # published test cards
)
def test_published_luhn_numbers(number):
    assert luhn_ok(number)
    assert not luhn_ok(number[:-1] + str((int(number[-1]) + 1) % 10))


@given(st.text("0123456789", min_size=11, max_size=18))
def test_luhn_agrees_with_the_textbook_statement(payload):
    number = payload + luhn_check_digit(payload)
    assert luhn_ok(number)
    for d in "0123456789":
        if d != number[-1]:
            assert not luhn_ok(number[:-1] + d)


@given(st.text("0123456789", min_size=12, max_size=19), st.integers(0, 18), st.integers(1, 9))
def test_luhn_catches_any_single_digit_error(number, position, shift):
    position %= len(number)
    valid = number[:-1] + luhn_check_digit(number[:-1])
    changed = valid[:position] + str((int(valid[position]) + shift) % 10) + valid[position + 1:]
    assert not luhn_ok(changed)


def test_luhn_refuses_what_is_not_digits():
    assert not luhn_ok("")
    assert not luhn_ok("4111 1111 1111 1111")
    assert not luhn_ok("٤١١١١١١١١١١١١١١١")  # Arabic-Indic digits are digits to str.isdigit, not to a bank


def test_bank_account_problems():
    card = "621700001234567" + luhn_check_digit("621700001234567")
    assert bank_account_problem(card) == (None, None)
    assert bank_account_problem("6217 0000 1234 " + card[12:]) == (None, None)  # printed in groups
    assert normalise_account("6217-0000 1234\u3000" + card[12:]) == card
    wrong = card[:-1] + str((int(card[-1]) + 1) % 10)
    error, warning = bank_account_problem(wrong)
    assert error is None
    assert warning == ("fails the bank-card check digit (Luhn): if this is a bank card a digit is mistyped; "
                       "passbook (存折) accounts have no check digit")
    assert bank_account_problem("") == ("account number is missing", None)
    assert bank_account_problem("12345678901") == ("an account number has 12–19 digits; this one has 11", None)
    assert bank_account_problem("1" * 20) == ("an account number has 12–19 digits; this one has 20", None)
    assert bank_account_problem("62170000O2345678") == (
        "an account number is digits only; character 9 is 'O' (the letter O instead of 0?)", None)
    # A 12-digit passbook account: digits and length are fine, Luhn is only a warning.
    error, warning = bank_account_problem("110000000001")
    assert error is None and warning is not None


def test_mask_account():
    assert mask_account("6217000012345678901") == "6217***********8901"
    assert mask_account("6217 0000 1234 5678") == "6217********5678"
    assert mask_account("123456789012") == "1234****9012"
    assert mask_account("12345678") == "****5678"
    assert mask_account("123") == "***"
