"""Account numbers as the contracts service records them and the notifier prints them: obligations.md §9.2."""

from __future__ import annotations

import re

import pytest

from services.common.accounts import (
    AccountError,
    format_nrb,
    mikrorachunek,
    mikrorachunek_owner,
    normalize_mikrorachunek,
    normalize_nrb,
)


def test_the_worked_examples_of_obligations_md() -> None:
    assert format_nrb(mikrorachunek(nip="1234563218")) == "88 1010 0071 2222 1234 5632 1800"
    assert format_nrb(mikrorachunek(pesel="11111111116")) == "95 1010 0071 2221 1111 1111 1160"
    assert mikrorachunek(nip="123-456-32-18") == mikrorachunek(nip="PL 1234563218")


def test_a_nip_wins_over_a_pesel_and_the_owner_reads_back() -> None:
    account = mikrorachunek(nip="1234563218", pesel="11111111116")
    assert mikrorachunek_owner(account) == ("NIP", "1234563218")
    assert mikrorachunek_owner(mikrorachunek(pesel="11111111116")) == ("PESEL", "11111111116")
    assert mikrorachunek_owner("61109010140000071219812874") is None  # a valid NRB, but a bank's, not the tax office's


@pytest.mark.parametrize(("raw", "message"), [
    ("PL88 1010 0071 2222 1234 5632 1801", "check digits do not match (should be"),
    ("88 1010 0071 2222 1234 5632 180", "must have 26 digits (NRB), got 25"),
    ("88 1010 0071 2222 1234 5632 18OO", "may contain only digits"),
])
def test_a_mistyped_account_says_what_is_wrong(raw: str, message: str) -> None:
    with pytest.raises(AccountError, match=re.escape(message)):
        normalize_nrb(raw)


def test_a_mikrorachunek_is_checked_for_its_structure_and_its_owner() -> None:
    assert normalize_mikrorachunek("PL88 1010 0071 2222 1234 5632 1800", nip="1234563218") == \
        "88101000712222123456321800"
    with pytest.raises(AccountError, match="starts with 10100071 222"):
        normalize_mikrorachunek("61109010140000071219812874")
    with pytest.raises(AccountError, match="belongs to NIP 1234563218, not to the client's NIP 5261040573"):
        normalize_mikrorachunek("88101000712222123456321800", nip="5261040573")
    with pytest.raises(AccountError, match="checksum does not match"):
        mikrorachunek(nip="1234563219")
    with pytest.raises(AccountError, match="needs the client's NIP or PESEL"):
        mikrorachunek()
