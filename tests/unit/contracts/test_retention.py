"""The retention rule and the scrubbing of personal values: pure functions, no database."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace

from services.common.personal import Scrub, erasable_from
from services.contracts.personal import decide, erased_value, scrub_of

REGISTERED = datetime(2019, 5, 6, 10, 0, tzinfo=UTC)


def client(erased_at: datetime | None = None) -> SimpleNamespace:
    return SimpleNamespace(id=12, name="Jan Kowalski", created_at=REGISTERED, erased_at=erased_at)


def test_records_are_kept_five_whole_years_after_the_end_of_the_year_they_concern() -> None:
    assert erasable_from(date(2026, 1, 1), 5) == date(2032, 1, 1)
    assert erasable_from(date(2026, 12, 31), 5) == date(2032, 1, 1)
    assert erasable_from(date(2026, 6, 30), 0) == date(2027, 1, 1)


def test_a_client_is_erasable_only_once_every_contract_ended_and_retention_passed() -> None:
    ends = [("BR/1", date(2024, 3, 31)), ("BR/2", date(2026, 11, 30))]
    kept = decide(client(), ends, today=date(2031, 12, 31), years=5)
    assert (kept.status, kept.erasable_from) == ("retained", date(2032, 1, 1))
    assert kept.reason == ("its last contract ended on 2026-11-30; records are kept 5 years after the end of 2026, "
                           "until 2031-12-31")
    due = decide(client(), ends, today=date(2032, 1, 1), years=5)
    assert (due.status, due.last_end) == ("erasable", date(2026, 11, 30))

    open_ended = decide(client(), [*ends, ("BR/3", None)], today=date(2040, 1, 1), years=5)
    assert (open_ended.status, open_ended.reason) == ("in_force", "contract BR/3 is in force (no end date)")
    running = decide(client(), [("BR/4", date(2026, 12, 31))], today=date(2026, 12, 31), years=5)
    assert (running.status, running.reason) == ("in_force", "contract BR/4 is in force until 2026-12-31")


def test_a_client_without_contracts_counts_from_its_registration_and_an_erased_one_says_when() -> None:
    assert decide(client(), [], today=date(2024, 12, 31), years=5).status == "retained"
    assert decide(client(), [], today=date(2025, 1, 1), years=5).status == "erasable"
    erased = decide(client(datetime(2032, 1, 2, 8, tzinfo=UTC)), [], today=date(2033, 1, 1), years=5)
    assert (erased.status, erased.reason) == ("erased", "personal data erased on 2032-01-02")


def test_erased_fields_keep_their_types_and_the_scrub_finds_the_values_in_text_and_events() -> None:
    assert erased_value("name", 12, "Jan Kowalski") == "Klient 12 (dane usunięte)"
    assert erased_value("nip", 12, "5261040828") == "X000000012"
    assert erased_value("pesel", 12, "80010112340") is None
    assert erased_value("regon", 12, "526104057") == ""
    assert erased_value("address", 12, {"street": "ul. Prosta 20", "city": "Warszawa", "country": "DE"}) == {
        "street": "", "postal_code": "", "city": "", "country": "DE"}
    assert erased_value("contact_emails", 12, ["a@b.pl"]) == []

    scrub = scrub_of(12, {"name": "Jan Kowalski", "nip": "5261040828", "pesel": "80010112340",
                          "address": {"street": "ul. Prosta 20"}, "contact_emails": ["jan@kowalski.example"],
                          "recipients": [{"email": "ksiegowa@kowalski.example", "name": "Ewa Kowalska"}]})
    assert scrub.text("Rozliczenie — Jan Kowalski, N5261040828, do: jan@kowalski.example") == (
        "Rozliczenie — Klient 12 (dane usunięte), N, do: klient-12@usunieto.invalid")
    event = {"client_name": "Jan Kowalski", "terms": {"client": {"nip": "5261040828", "vat": "monthly"}},
             "recipients": [{"email": "ksiegowa@kowalski.example", "name": "Ewa Kowalska"}], "amount": "12.00"}
    assert scrub.json(event) == {
        "client_name": "Klient 12 (dane usunięte)", "terms": {"client": {"nip": None, "vat": "monthly"}},
        "recipients": [{"email": "klient-12@usunieto.invalid", "name": ""}], "amount": "12.00"}
    assert Scrub.of([("ab", "x")]).text("ab cd") == "ab cd"  # too short to find safely in free text
