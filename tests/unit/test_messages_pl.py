"""Every validation message the client and contract forms can show is said in Polish, with the field's values in
Polish words and dates as DD.MM.YYYY."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import ValidationError

from services.contracts.domain import ClientIn, ContractIn
from services.gateway.web import dates_pl, form_date, message_pl
from tests.samples import contract, sole_trader


def _messages(model: Any, body: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as raised:
        model.model_validate(body)
    return [str(error["msg"]) for error in raised.value.errors()]


def _client(**changes: Any) -> dict[str, Any]:
    body = sole_trader()
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        target = body
        for name in parents:
            target = target[name]
        target[leaf] = value
    return body


BAD_CLIENTS = [
    _client(nip="1234567890", regon="", address__postal_code="0000"),
    _client(nip="123", regon="12345678X", pesel="44051401358"),
    _client(nip="5260250275", regon="123456786", pesel="44131401458"),
    _client(tax_profile__legal_form="llc", krs=""),
    _client(tax_profile__legal_form="llc", tax_profile__in_krs=False, krs="0000012345"),
    _client(tax_profile__income_tax="none", tax_profile__income_tax_advances="monthly"),
    _client(tax_profile__fiscal_year_end="06-30"),
    _client(tax_profile__fiscal_year_end="6/30"),
    _client(tax_profile__books="revenue_records"),
    _client(krs="0000000000", tax_profile__legal_form="llc"),
    _client(contact_emails=["not-an-address"]),
]


@pytest.mark.parametrize("body", BAD_CLIENTS)
def test_every_client_error_reads_in_polish(body: dict[str, Any]) -> None:
    for message in _messages(ClientIn, body):
        polish = message_pl(message)
        assert polish != message, f"not translated: {message}"
        assert not re.search(r"\b(checksum|must|should|the|given|pays|keeps|not a)\b", polish), polish


def test_contract_errors_read_in_polish_with_polish_dates() -> None:
    body = contract(1)
    body["start"], body["end"] = "2026-10-01", "2026-09-30"
    body["services"] = ["vat", "vat"]
    body["fee"] = {"monthly_net": "800.00", "per_document": "2.50"}
    polish = [message_pl(m) for m in _messages(ContractIn, body)]
    assert "Koniec (30.09.2026) jest przed początkiem (01.10.2026)." in polish, polish
    assert all("must" not in p and "given together" not in p and "listed" not in p for p in polish), polish


def test_a_checksum_message_says_which_digit_in_polish() -> None:
    assert message_pl("NIP checksum does not match: last digit should be 7 (got '5260250274')") == (
        "Błędna suma kontrolna NIP: ostatnia cyfra powinna być 7; sprawdź, czy nie ma literówki.")
    assert message_pl("a legal person (llc) pays CIT, not pit_flat") == (
        "Osoba prawna (spółka z o.o.) płaci CIT, nie: PIT liniowy.")
    assert message_pl("REGON must have 9 or 14 digits, got 8 (got '12345678')") == "REGON ma 9 lub 14 cyfr, a podano 8."


def test_dates_are_typed_and_shown_the_polish_way_and_iso_still_works() -> None:
    assert form_date("29.11.2026") == form_date("29-11-2026") == form_date("2026-11-29") == "2026-11-29"
    assert form_date("1.2.2027") == "2027-02-01"
    assert form_date("31.02.2026") == "31.02.2026"  # no such day: the API says so next to the field
    assert dates_pl({"start": "2026-10-01", "end": "31.13.2026"}, ["start", "end"]) == {
        "start": "01.10.2026", "end": "31.13.2026"}
