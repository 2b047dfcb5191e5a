"""NIP, REGON, PESEL and KRS: known numbers, classic mistakes, and properties over generated numbers."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.contracts.domain import (
    InvalidIdentifier,
    normalize_krs,
    normalize_nip,
    normalize_pesel,
    normalize_regon,
    pesel_birth_date,
)
from tests.unit.contracts.testdata import (
    formatted,
    make_pesel,
    nip_check,
    pesel_check,
    regon9_check,
    regon14_check,
    valid_nips,
    valid_pesels,
    valid_regons,
)

# ---- NIP ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("5260250274", "5260250274"),  # the terms.md example
        ("7740001454", "7740001454"),
        ("526-025-10-49", "5260251049"),
        ("526-02-51-049", "5260251049"),
        ("PL5260250274", "5260250274"),
        ("pl 526 025 02 74", "5260250274"),
        (" 774 000 14 54 ", "7740001454"),
    ],
)
def test_valid_nips_normalize_to_ten_digits(raw: str, expected: str) -> None:
    assert normalize_nip(raw) == expected


def _nip_with_remainder_10() -> str:
    first9 = next(f"{n:09d}" for n in range(123456789, 10**9) if nip_check(f"{n:09d}") is None)
    return first9 + "0"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("5260250275", "checksum does not match: last digit should be 4"),
        ("526025027", "must have 10 digits, got 9"),
        ("52602502744", "must have 10 digits, got 11"),
        ("526025027A", "may contain only digits"),
        ("DE5260250274", "may contain only digits"),
        ("", "is empty"),
        ("PL", "is empty"),
        (_nip_with_remainder_10(), "remainder 10"),
    ],
)
def test_invalid_nips_say_what_is_wrong(raw: str, reason: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        normalize_nip(raw)
    assert str(caught.value).startswith("NIP ")
    assert reason in str(caught.value)
    assert repr(raw) in str(caught.value)  # the person sees what they typed
    assert isinstance(caught.value, ValueError)


def test_nip_given_as_a_number_is_refused_with_a_reason() -> None:
    with pytest.raises(InvalidIdentifier, match="as text"):
        normalize_nip(5260250274)  # type: ignore[arg-type]


@given(valid_nips())
def test_generated_valid_nip_validates(nip: str) -> None:
    assert normalize_nip(nip) == nip


@given(valid_nips(), st.integers(0, 9), st.integers(1, 9))
def test_changing_any_single_nip_digit_fails(nip: str, position: int, delta: int) -> None:
    changed = nip[:position] + str((int(nip[position]) + delta) % 10) + nip[position + 1 :]
    with pytest.raises(InvalidIdentifier):
        normalize_nip(changed)


@given(st.data(), valid_nips())
def test_formatted_nip_normalizes_to_the_same_digits(data: st.DataObject, nip: str) -> None:
    typed = data.draw(formatted(nip, prefix=True))
    assert normalize_nip(typed) == nip


@given(st.data(), valid_nips())
def test_normalizing_nip_is_idempotent(data: st.DataObject, nip: str) -> None:
    once = normalize_nip(data.draw(formatted(nip, prefix=True)))
    assert normalize_nip(once) == once


@given(st.text(max_size=14))
def test_nip_normalizer_either_returns_ten_digits_or_raises_invalid_identifier(raw: str) -> None:
    try:
        result = normalize_nip(raw)
    except InvalidIdentifier:
        return
    assert len(result) == 10 and result.isdigit()


# ---- REGON --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    ["610188201", "024547100", "30039317700015", "300-393-177-00015", "14225127800029", "123456785"],
)
def test_valid_regons(raw: str) -> None:
    assert normalize_regon(raw) == raw.replace("-", "")


def _regon9_with_remainder_10() -> str:
    for n in range(10**8):
        first8 = f"{n:08d}"
        total = sum(w * int(d) for w, d in zip([8, 9, 2, 3, 4, 5, 6, 7], first8, strict=True))
        if total % 11 == 10:
            return first8 + "0"
    raise AssertionError("no such REGON")


def test_regon_whose_remainder_is_10_has_check_digit_0() -> None:
    regon = _regon9_with_remainder_10()
    assert normalize_regon(regon) == regon


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("610188202", "checksum does not match: digit 9 should be 1"),
        ("61018820", "must have 9 or 14 digits, got 8"),
        ("6101882011", "must have 9 or 14 digits, got 10"),
        ("30039317700016", "last digit should be 5"),
        ("61018820X", "may contain only digits"),
        ("PL610188201", "may contain only digits"),  # REGON has no country prefix
    ],
)
def test_invalid_regons(raw: str, reason: str) -> None:
    with pytest.raises(InvalidIdentifier, match=r"^REGON ") as caught:
        normalize_regon(raw)
    assert reason in str(caught.value)


def test_fourteen_digit_regon_needs_a_valid_nine_digit_parent() -> None:
    parent = "610188202"  # wrong check digit
    first13 = parent + "0001"
    regon = first13 + str(regon14_check(first13))  # the 14-digit checksum itself is right
    with pytest.raises(InvalidIdentifier, match="first 9 digits"):
        normalize_regon(regon)


@given(valid_regons())
def test_generated_valid_regon_validates(regon: str) -> None:
    assert normalize_regon(regon) == regon


@given(st.data(), valid_regons())
def test_formatted_regon_normalizes_to_the_same_and_is_idempotent(data: st.DataObject, regon: str) -> None:
    once = normalize_regon(data.draw(formatted(regon)))
    assert once == regon
    assert normalize_regon(once) == once


@given(valid_regons(), st.integers(0, 13), st.integers(1, 9))
def test_changed_regon_digit_fails_unless_checksum_collides(regon: str, position: int, delta: int) -> None:
    # REGON writes remainder 10 as 0, so unlike NIP a single change can (rarely) still validate;
    # then the recomputed check digits must agree with the changed number.
    position %= len(regon)
    changed = regon[:position] + str((int(regon[position]) + delta) % 10) + regon[position + 1 :]
    try:
        normalize_regon(changed)
    except InvalidIdentifier:
        return
    assert regon9_check(changed[:8]) == int(changed[8])
    if len(changed) == 14:
        assert regon14_check(changed[:13]) == int(changed[13])


# ---- PESEL --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "born"),
    [
        ("44051401359", date(1944, 5, 14)),
        ("02070803628", date(1902, 7, 8)),
        ("75031412485", date(1975, 3, 14)),
        ("03263043210", date(2003, 6, 30)),  # 2000s: month + 20
        ("99923111117", date(1899, 12, 31)),  # 1800s: month + 80
        (make_pesel(date(2124, 2, 29), 1), date(2124, 2, 29)),  # 2100s: month + 40, leap day
        (make_pesel(date(2200, 1, 1), 9999), date(2200, 1, 1)),  # 2200s: month + 60
    ],
)
def test_valid_pesels_and_their_birth_dates(raw: str, born: date) -> None:
    assert normalize_pesel(raw) == raw
    assert pesel_birth_date(raw) == born


def _with_check(first10: str) -> str:
    return first10 + str(pesel_check(first10))


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("44051401358", "checksum does not match: last digit should be 9"),
        ("4405140135", "must have 11 digits, got 10"),
        ("440514013591", "must have 11 digits, got 12"),
        ("4405140135O", "may contain only digits"),  # letter O for zero
        (_with_check("4413140135"), "no valid birth month"),  # month 13
        (_with_check("4400140135"), "no valid birth month"),  # month 0
        (_with_check("9902300135"), "no valid birth date (1999-02-30)"),
        (_with_check("0122290135"), "no valid birth date (2001-02-29)"),  # not a leap year
        (_with_check("4405000135"), "no valid birth date"),  # day 0
    ],
)
def test_invalid_pesels(raw: str, reason: str) -> None:
    with pytest.raises(InvalidIdentifier, match=r"^PESEL ") as caught:
        normalize_pesel(raw)
    assert reason in str(caught.value)


@given(valid_pesels())
def test_generated_valid_pesel_validates(pesel: str) -> None:
    assert normalize_pesel(pesel) == pesel


@given(valid_pesels(), st.integers(0, 10), st.integers(1, 9))
def test_changing_any_single_pesel_digit_fails(pesel: str, position: int, delta: int) -> None:
    changed = pesel[:position] + str((int(pesel[position]) + delta) % 10) + pesel[position + 1 :]
    with pytest.raises(InvalidIdentifier):
        normalize_pesel(changed)


@given(st.data(), valid_pesels())
def test_formatted_pesel_normalizes_to_the_same_and_is_idempotent(data: st.DataObject, pesel: str) -> None:
    once = normalize_pesel(data.draw(formatted(pesel)))
    assert once == pesel
    assert normalize_pesel(once) == once


# ---- KRS ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"), [("0000512347", "0000512347"), ("512347", "0000512347"), ("1", "0000000001")]
)
def test_krs_is_zero_padded_to_ten_digits(raw: str, expected: str) -> None:
    assert normalize_krs(raw) == expected


@pytest.mark.parametrize("raw", ["0000000000", "00000512347X", "12345678901", ""])
def test_invalid_krs(raw: str) -> None:
    with pytest.raises(InvalidIdentifier, match=r"^KRS "):
        normalize_krs(raw)


@given(st.integers(1, 10**10 - 1))
def test_krs_normalizing_is_idempotent(number: int) -> None:
    once = normalize_krs(str(number))
    assert len(once) == 10
    assert normalize_krs(once) == once
    assert int(once) == number
