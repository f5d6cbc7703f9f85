"""Identity numbers: the 18-digit resident ID (GB 11643-1999) and bank account numbers (Luhn).

Owns their format checks, the public (公示) masking of both, and age from a birth date. Pure:
every check returns a value or a message saying exactly what is wrong, in the officer's terms;
nothing here raises on bad input. Officers copy IDs from paper and Word, so full-width digits,
a lower-case x and spaces between digit groups are accepted and normalised.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from operator import mul

ID_LENGTH = 18
OLD_ID_LENGTH = 15  # first-generation cards (before 1999/2004); no check digit, two-digit year
MIN_BIRTH_YEAR = 1900
MIN_ACCOUNT_DIGITS = 12  # rural passbook (存折) accounts are as short as 12 digits
MAX_ACCOUNT_DIGITS = 19  # the longest bank card number (ISO/IEC 7812)
MAX_INPUT_CHARS = 64  # anything longer is not an ID or account typed by hand; do not scan it

# ISO 7064 MOD 11-2 as published in GB 11643-1999: weight of position i is 2^(17-i) mod 11, and
# the check character is "10X98765432"[sum mod 11].
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "10X98765432"

# Province-level codes of GB/T 2260 (the first two digits of the address code): 11–15 north,
# 21–23 north-east, 31–37 east, 41–46 south-central, 50–54 south-west, 61–65 north-west (65 is
# Xinjiang), 71 Taiwan, 81 Hong Kong, 82 Macao. Any other pair cannot start a real ID number,
# so it catches a mistyped first digit that the checksum alone might not.
PROVINCE_CODES = frozenset(
    {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46,
     50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82}
)

MALE = "male"
FEMALE = "female"

# Full-width digits and X (typed with a Chinese input method), and the spaces people put between
# digit groups ("653226 19900101 0012"): none of them change the number.
_FULLWIDTH = str.maketrans("０１２３４５６７８９Ｘｘ", "0123456789XX")
_SPACES = re.compile(r"[\s\u3000\u00a0]+")
_ACCOUNT_SEPARATORS = re.compile(r"[\s\u3000\u00a0\-－]+")
_ASCII_DIGITS = re.compile(r"[0-9]+\Z")
_CLEAN_ID = re.compile(r"[0-9]{17}[0-9X]\Z")
# Letters people type for digits they read off a card.
_LOOKALIKES = {"O": "0", "o": "0", "I": "1", "l": "1", "L": "1", "|": "1", "Z": "2", "S": "5", "B": "8"}


@dataclass(frozen=True, slots=True)
class ResidentId:
    number: str  # 18 characters, a final x upper-cased
    birth_date: dt.date
    sex: str  # MALE or FEMALE, from the 17th digit (odd: male)


def normalise_id(text: str) -> str:
    """Trim and drop spaces anywhere, full-width digits to ASCII, x to X."""
    return _SPACES.sub("", text).translate(_FULLWIDTH).upper()


def id_check_char(first17: str) -> str:
    """The GB 11643 check character for 17 ASCII digits."""
    if len(first17) != 17:
        raise ValueError("the check character is computed over exactly 17 digits")
    return ID_CHECK_CHARS[sum(map(mul, map(int, first17), ID_WEIGHTS)) % 11]


def _not_a_digit(ch: str, position: int) -> str:
    hint = f" (the letter {ch} instead of {_LOOKALIKES[ch]}?)" if ch in _LOOKALIKES else ""
    return f"character {position} is {ch!r}{hint}; the first 17 characters of an ID number must be digits"


def parse_resident_id(text: str, as_of: dt.date) -> tuple[ResidentId | None, str | None]:
    """(ResidentId, None) for a valid 18-digit ID, else (None, what is wrong).

    Checked in the order an officer can act on: length and characters, province, birth date (a
    real day, from 1900 up to `as_of`), and last the check character, so a mistyped birth date
    is named as such rather than as a checksum failure.
    """
    if not isinstance(text, str):
        return None, "ID number must be text"
    if len(text) > MAX_INPUT_CHARS:
        return None, f"an ID number has {ID_LENGTH} characters; this is {len(text)} characters long"
    # Most numbers arrive clean; normalising them is a third of the time of checking them.
    number = text if _CLEAN_ID.match(text) else normalise_id(text)
    if not number:
        return None, "ID number is missing"
    if len(number) != ID_LENGTH:
        if len(number) == OLD_ID_LENGTH and _ASCII_DIGITS.match(number):
            return None, ("this is an old 15-digit ID number; enter the 18-digit number of the "
                          "current (second-generation) ID card")
        return None, f"an ID number has {ID_LENGTH} characters; this one has {len(number)}"
    last = number[17]
    if not _CLEAN_ID.match(number):
        for i, ch in enumerate(number[:17], start=1):
            if not ("0" <= ch <= "9"):
                return None, _not_a_digit(ch, i)
        return None, f"the last character must be a digit or X, not {last!r}"
    province = int(number[:2])
    if province not in PROVINCE_CODES:
        return None, (f"the first two digits {number[:2]} are not a province code (11–82; 65 is Xinjiang): "
                      "the region part of the number is mistyped")
    digits = number[6:14]
    try:
        birth = dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None, (f"characters 7–14 are the birth date (YYYYMMDD), but {digits} is not a real date: "
                      "a digit of the birth date is mistyped")
    if birth.year < MIN_BIRTH_YEAR:
        return None, f"the birth date in the number, {birth.isoformat()}, is before {MIN_BIRTH_YEAR}"
    if birth > as_of:
        return None, f"the birth date in the number, {birth.isoformat()}, is after {as_of.isoformat()}"
    # Deliberately not telling the officer which check character would fit: "fixing" the last
    # character makes a valid-looking number out of one with a mistyped digit somewhere else.
    if id_check_char(number[:17]) != last:
        return None, ("the check character (the last one) does not match the other 17 digits: a digit is "
                      "mistyped or two are swapped; compare with the ID card")
    sex = MALE if int(number[16]) % 2 else FEMALE
    return ResidentId(number, birth, sex), None


def age_on(birth_date: dt.date, day: dt.date) -> int:
    """Age in full years on `day`. Someone born on 29 February turns a year older on 1 March in a
    common year (the birthday has not come while 28 February < 29 February). Raises ValueError
    when `day` is before the birth: that is a caller's bug, not bad input."""
    if day < birth_date:
        raise ValueError(f"{day.isoformat()} is before the birth date {birth_date.isoformat()}")
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def mask_id(number: str) -> str:
    """The 公示 form: keep the 6-digit region code and the last 4 (sequence and check), hide the
    birth date: 653226********0012. The region is public anyway (it is the county), the birth
    date is what identifies a person; the last 4 let a villager recognise their own line.

    A 15-digit old number hides its 6-digit birth date (653226******123). Anything else is not a
    valid number; all but its last 4 characters are hidden, and it keeps its length.
    """
    n = normalise_id(number)
    if len(n) == ID_LENGTH:
        return n[:6] + "*" * 8 + n[14:]
    if len(n) == OLD_ID_LENGTH:
        return n[:6] + "*" * 6 + n[12:]
    return "*" * max(len(n) - 4, 0) + n[-4:] if len(n) > 4 else "*" * len(n)


# --------------------------------------------------------------------------------------------
# Bank accounts


def normalise_account(text: str) -> str:
    """Drop spaces and dashes (cards are printed in groups of four), full-width digits to ASCII."""
    return _ACCOUNT_SEPARATORS.sub("", text).translate(_FULLWIDTH)


# A digit's contribution when it is doubled: 2·d, less 9 when that has two digits.
_LUHN_DOUBLED = {str(d): (2 * d - 9 if d > 4 else 2 * d) for d in range(10)}
LUHN_WARNING = ("fails the bank-card check digit (Luhn): if this is a bank card a digit is mistyped; "
                "passbook (存折) accounts have no check digit")


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) check of bank card numbers; False for anything but ASCII digits."""
    if not digits or not _ASCII_DIGITS.match(digits):
        return False
    backwards = digits[::-1]
    total = sum(map(int, backwards[0::2])) + sum(map(_LUHN_DOUBLED.__getitem__, backwards[1::2]))
    return total % 10 == 0


def bank_account_error(number: str) -> str | None:
    """The hard part of `bank_account_problem`: not digits, or not 12–19 of them."""
    if len(number) > MAX_INPUT_CHARS:
        return f"an account number has {MIN_ACCOUNT_DIGITS}–{MAX_ACCOUNT_DIGITS} digits; this is longer"
    n = normalise_account(number)
    if not n:
        return "account number is missing"
    if not _ASCII_DIGITS.match(n):
        i, ch = next((i, ch) for i, ch in enumerate(n, start=1) if not ("0" <= ch <= "9"))
        hint = f" (the letter {ch} instead of {_LOOKALIKES[ch]}?)" if ch in _LOOKALIKES else ""
        return f"an account number is digits only; character {i} is {ch!r}{hint}"
    if not MIN_ACCOUNT_DIGITS <= len(n) <= MAX_ACCOUNT_DIGITS:
        return f"an account number has {MIN_ACCOUNT_DIGITS}–{MAX_ACCOUNT_DIGITS} digits; this one has {len(n)}"
    return None


def bank_account_problem(number: str) -> tuple[str | None, str | None]:
    """(error, warning) for an account number as typed (it is normalised first).

    The error is hard: not digits, or not 12–19 long. The warning is soft: the Luhn check fails.
    Every bank card passes Luhn, but many 一卡通 accounts are passbook accounts, which have no
    check digit, so only the caller knows whether a failure means a typo.
    """
    error = bank_account_error(number)
    if error:
        return error, None
    return None, (None if luhn_ok(normalise_account(number)) else LUHN_WARNING)


def mask_account(number: str) -> str:
    """The 公示 form: the first 4 (which bank) and the last 4 digits, the rest hidden, length kept:
    6217***********1234. A number of 8 or fewer characters shows only its last 4."""
    n = normalise_account(number)
    if len(n) > 8:
        return n[:4] + "*" * (len(n) - 8) + n[-4:]
    return "*" * max(len(n) - 4, 0) + n[-4:] if len(n) > 4 else "*" * len(n)
