"""Client and contract models: every invalid field is named, rules between fields, fees in Decimal."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from services.common.terms import LegalForm, Service, ServiceScope, TermsDocument
from services.contracts.domain import (
    ClientIn,
    ContractDraft,
    ContractIn,
    ContractTerms,
    Fee,
    TaxProfile,
    error_fields,
    iter_problems,
    terms_document,
)


def company_profile(**changes: Any) -> dict[str, Any]:
    return {
        "legal_form": "llc", "books": "full", "income_tax": "cit", "income_tax_advances": "monthly",
        "vat": "monthly", "vat_eu": True, "employees": 12, "ppk": True, "fiscal_year_end": "12-31",
        "in_krs": True, **changes,
    }  # fmt: skip


def sole_trader_profile(**changes: Any) -> dict[str, Any]:
    return {
        "legal_form": "sole_trader", "books": "kpir", "income_tax": "pit_scale",
        "income_tax_advances": "monthly", "vat": "quarterly", **changes,
    }  # fmt: skip


def company(**changes: Any) -> dict[str, Any]:
    return {
        "name": "Kowalski Logistyka sp. z o.o.",
        "tax_profile": company_profile(),
        "nip": "PL 779-414-00-25",
        "regon": "30039317700015",
        "krs": "512347",
        "address": {"street": "ul. Głogowska 248", "postal_code": "60-104", "city": "Poznań"},
        "contact_emails": ["biuro@Kowalski-Logistyka.PL", "ksiegowosc@kowalski-logistyka.pl"],
        "language": "pl",
        **changes,
    }


def sole_trader(**changes: Any) -> dict[str, Any]:
    return {
        "name": "Anna  Nowak Pracownia",
        "tax_profile": sole_trader_profile(),
        "nip": "5259939082",
        "regon": "142251278",
        "pesel": "75031412485",
        "address": {"street": "ul. Marszałkowska 10/12", "postal_code": "00590", "city": "Warszawa"},
        "contact_emails": ["anna@nowak.pl"],
        **changes,
    }


def contract(**changes: Any) -> dict[str, Any]:
    return {
        "number": "UM/2026/002",
        "client_id": 7,
        "signed_on": "2025-12-18",
        "start": "2026-01-01",
        "end": None,
        "notice_period_months": 3,
        "services": [
            "bookkeeping",
            "vat",
            "income_tax",
            {"name": "payroll", "parameters": {"headcount_limit": 15}},
        ],
        "fee": {"monthly_net": "2500.00", "vat_rate": "23", "per_employee": "45.00"},
        "team": {"accountant": "mzielinska", "payroll": "pdudek", "manager": "kwrobel"},
        **changes,
    }


def fields_of(model: type[Any], data: dict[str, Any]) -> set[str]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return set(error_fields(caught.value))


# ---- client -------------------------------------------------------------------------------------


def test_valid_company_is_stored_normalized() -> None:
    client = ClientIn.model_validate(company())
    assert client.nip == "7794140025"
    assert client.krs == "0000512347"
    assert client.contact_emails == ["biuro@kowalski-logistyka.pl", "ksiegowosc@kowalski-logistyka.pl"]
    assert client.legal_form is LegalForm.llc
    assert client.tax_profile.legal_person


def test_valid_sole_trader_is_stored_normalized() -> None:
    client = ClientIn.model_validate(sole_trader())
    assert client.name == "Anna Nowak Pracownia"
    assert client.address.postal_code == "00-590"
    assert client.tax_profile.in_krs is False  # derived from the legal form when not given
    assert client.tax_profile.fiscal_year_end == "12-31"
    assert not client.tax_profile.legal_person
    assert client.language == "pl"


def test_every_invalid_client_field_is_named_at_once() -> None:
    data = company(
        nip="5260250275",
        regon="61018820",
        contact_emails=["ok@firma.pl", "not-an-email"],
        language="de",
        address={"street": "ul. Długa 1", "postal_code": "60104x", "city": ""},
        tax_profile=company_profile(books="ledger", employees=-1),
    )
    assert fields_of(ClientIn, data) == {
        "nip",
        "regon",
        "contact_emails.1",
        "language",
        "address.city",
        "tax_profile.books",
        "tax_profile.employees",
    }


def test_identifier_errors_carry_the_readable_reason() -> None:
    with pytest.raises(ValidationError) as caught:
        ClientIn.model_validate(company(nip="5260250275"))
    [(loc, message)] = list(iter_problems(caught.value))
    assert loc == ("nip",)
    assert message == "NIP checksum does not match: last digit should be 4 (got '5260250275')"


def test_contact_emails_must_not_be_empty() -> None:
    assert fields_of(ClientIn, company(contact_emails=[])) == {"contact_emails"}


def test_polish_postal_code_is_checked_and_foreign_is_free() -> None:
    assert fields_of(ClientIn, company(address={"street": "a", "postal_code": "601040", "city": "b"})) == {
        "address.postal_code"
    }
    foreign = ClientIn.model_validate(
        company(address={"street": "Hauptstr. 1", "postal_code": "10115", "city": "Berlin", "country": "DE"})
    )
    assert foreign.address.postal_code == "10115"


def test_sole_trader_needs_pesel() -> None:
    data = sole_trader()
    del data["pesel"]
    assert fields_of(ClientIn, data) == {"pesel"}


def test_pesel_is_rejected_for_a_company() -> None:
    assert fields_of(ClientIn, company(pesel="44051401359")) == {"pesel"}


def test_client_in_krs_needs_krs_number_and_sole_trader_has_none() -> None:
    assert fields_of(ClientIn, company(krs=None)) == {"krs"}
    assert fields_of(ClientIn, sole_trader(krs="512347")) == {"krs"}


def test_unknown_client_field_is_an_error_not_silently_dropped() -> None:
    assert fields_of(ClientIn, company(vat_ue=True)) == {"vat_ue"}


def test_identifiers_as_json_numbers_are_refused() -> None:
    assert fields_of(ClientIn, company(regon=24547100)) == {"regon"}  # would have lost a leading zero


# ---- tax profile rules --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"income_tax": "pit_scale", "books": "kpir"}, {"income_tax", "books"}),
        ({"books": "kpir"}, {"books"}),
        ({"legal_form": "sole_trader", "income_tax": "cit", "in_krs": False}, {"income_tax"}),
        ({"legal_form": "sole_trader", "in_krs": True, "income_tax": "pit_flat"}, {"in_krs"}),
        ({"legal_form": "general_partnership", "income_tax": "pit_ryczalt", "books": "kpir"}, {"books"}),
        ({"legal_form": "general_partnership", "income_tax": "pit_flat", "books": "revenue_records"},
         {"books"}),
        ({"income_tax": "none", "income_tax_advances": "monthly"}, {"income_tax_advances"}),
        ({"legal_form": "general_partnership", "income_tax": "pit_flat", "fiscal_year_end": "03-31"},
         {"fiscal_year_end"}),
        ({"fiscal_year_end": "02-29"}, {"fiscal_year_end"}),
        ({"fiscal_year_end": "06-15"}, {"fiscal_year_end"}),
        ({"fiscal_year_end": "2026-12-31"}, {"fiscal_year_end"}),
        ({"fiscal_year_end": "13-31"}, {"fiscal_year_end"}),
        ({"employees": 1.5}, {"employees"}),
        ({"vat_eu": "maybe"}, {"vat_eu"}),
    ],
)  # fmt: skip
def test_tax_profile_rules_name_the_field(changes: dict[str, Any], fields: set[str]) -> None:
    assert fields_of(TaxProfile, company_profile(**changes)) == fields


@pytest.mark.parametrize(
    "changes",
    [
        {"fiscal_year_end": "03-31"},
        {"fiscal_year_end": "02-28"},
        {"income_tax": "cit_estonian", "income_tax_advances": "none"},
        {"legal_form": "limited_partnership"},
        {
            "legal_form": "sole_trader",
            "income_tax": "pit_ryczalt",
            "books": "revenue_records",
            "in_krs": False,
        },
        {"legal_form": "sole_trader", "income_tax": "pit_scale", "books": "full", "in_krs": False},
        {"legal_form": "foundation", "income_tax": "none", "income_tax_advances": "none"},
        {"intrastat": True, "pfron": True},
    ],
)
def test_tax_profiles_the_law_allows_are_accepted(changes: dict[str, Any]) -> None:
    TaxProfile.model_validate(company_profile(**changes))


@pytest.mark.parametrize(("form", "in_krs"), [("llc", True), ("civil_partnership", False), ("sole_trader", False)])
def test_in_krs_defaults_from_legal_form(form: str, in_krs: bool) -> None:
    data = company_profile(legal_form=form)
    del data["in_krs"]
    if form in {"civil_partnership", "sole_trader"}:
        data |= {"income_tax": "pit_scale", "books": "kpir"}
    assert TaxProfile.model_validate(data).in_krs is in_krs


# ---- contract -----------------------------------------------------------------------------------


def test_valid_contract() -> None:
    c = ContractIn.model_validate(contract())
    assert c.start == date(2026, 1, 1)
    assert c.end is None
    assert c.services[3] == ServiceScope(name=Service.payroll, parameters={"headcount_limit": 15})
    assert c.has(Service.payroll)
    assert c.fee.monthly_net == Decimal("2500.00")


def test_every_invalid_contract_field_is_named_at_once() -> None:
    data = contract(
        number="",
        client_id="abc",
        signed_on="18.12.2025",
        start="2026-01-01",
        end="2025-12-31",
        notice_period_months=-1,
        services=["bookkeeping", "tax_advice"],
        fee={"monthly_net": 2500.5, "vat_rate": "22"},
        team={"accountant": "m zielinska"},
    )
    assert fields_of(ContractIn, data) == {
        "number",
        "client_id",
        "signed_on",
        "end",
        "notice_period_months",
        "services.1.name",
        "fee.monthly_net",
        "fee.vat_rate",
        "team.accountant",
    }


def test_services_must_be_listed_and_each_once() -> None:
    assert fields_of(ContractIn, contract(services=[])) == {"services"}
    assert fields_of(ContractIn, contract(services=["vat", "zus", "vat"])) == {"services"}


def test_payroll_service_needs_a_payroll_specialist() -> None:
    assert fields_of(ContractIn, contract(team={"accountant": "mzielinska"})) == {"team.payroll"}
    no_payroll = contract(services=["bookkeeping", "vat"], team={"accountant": "mzielinska"})
    assert ContractIn.model_validate(no_payroll).team.payroll is None


@pytest.mark.parametrize(
    ("parameters", "field"),
    [({"headcount_limit": 0}, "services.0.parameters.headcount_limit"),
     ({"headcount_limit": True}, "services.0.parameters.headcount_limit"),
     ({"head_count": 5}, "services.0.parameters.head_count")],
)  # fmt: skip
def test_service_parameters_are_checked(parameters: dict[str, Any], field: str) -> None:
    data = contract(services=[{"name": "payroll", "parameters": parameters}])
    assert fields_of(ContractIn, data) == {field}


def test_dates_are_local_dates_not_timestamps() -> None:
    assert fields_of(ContractIn, contract(start=1767225600)) == {"start"}
    assert fields_of(ContractIn, contract(start="2026-01-01T00:00:00+01:00")) == {"start"}


def test_contract_round_trips_through_json_without_floats() -> None:
    c = ContractIn.model_validate(contract())
    text = c.model_dump_json()
    assert '"monthly_net":"2500.00"' in text
    again = ContractIn.model_validate_json(text)
    assert again == c


def test_stored_dumps_validate_again() -> None:
    # The service stores model_dump(mode="json") and re-validates it to build the terms snapshot.
    client = ClientIn.model_validate(company())
    assert ClientIn.model_validate(client.model_dump(mode="json")) == client
    assert ClientIn.model_validate(client.model_dump()) == client
    c = ContractIn.model_validate(contract())
    assert ContractIn.model_validate(c.model_dump(mode="json")) == c
    assert ContractIn.model_validate(c.model_dump()) == c


def test_draft_has_no_client_id_and_in_requires_it() -> None:
    draft = contract()
    del draft["client_id"]
    ContractDraft.model_validate(draft)
    assert fields_of(ContractIn, draft) == {"client_id"}


# ---- fee ----------------------------------------------------------------------------------------


def test_fee_with_extras_in_decimal() -> None:
    fee = Fee.model_validate(
        {"monthly_net": "2500", "per_employee": "45", "per_document": "2.50", "document_threshold": 300}
    )
    month = fee.breakdown(employees=12, documents=350)
    assert (month.base, month.employees, month.documents) == (
        Decimal("2500.00"),
        Decimal("540.00"),
        Decimal("125.00"),
    )
    assert month.net == Decimal("3165.00")
    assert month.vat == Decimal("727.95")
    assert month.gross == Decimal("3892.95")
    assert fee.breakdown(documents=299).documents == Decimal("0.00")  # below the threshold costs nothing
    assert all(isinstance(v, Decimal) for v in vars(month).values())


def test_vat_is_rounded_half_up_to_the_grosz() -> None:
    # 23% of 1003.50 is 230.805: half up gives 230.81 (banker's rounding would give 230.80).
    fee = Fee.model_validate({"monthly_net": "1003.50"})
    assert fee.vat() == Decimal("230.81")
    assert fee.gross() == Decimal("1234.31")
    assert Fee.model_validate({"monthly_net": "100.50", "vat_rate": 5}).vat() == Decimal("5.03")


def test_zero_rate_and_exempt_fee() -> None:
    fee = Fee.model_validate({"monthly_net": "450", "vat_rate": "0"})
    assert (fee.net(), fee.vat(), fee.gross()) == (Decimal("450.00"), Decimal("0.00"), Decimal("450.00"))


@pytest.mark.parametrize(
    ("fee", "field"),
    [
        ({"monthly_net": 99.99}, "monthly_net"),
        ({"monthly_net": "99.999"}, "monthly_net"),
        ({"monthly_net": "-1"}, "monthly_net"),
        ({"monthly_net": "NaN"}, "monthly_net"),
        ({"monthly_net": "abc"}, "monthly_net"),
        ({"monthly_net": True}, "monthly_net"),
        ({"monthly_net": "10", "vat_rate": 23.0}, "vat_rate"),
        ({"monthly_net": "10", "per_employee": 4.5}, "per_employee"),
        ({"monthly_net": "10", "per_document": "1"}, "document_threshold"),
        ({"monthly_net": "10", "document_threshold": 100}, "per_document"),
    ],
)
def test_fee_errors_name_the_field(fee: dict[str, Any], field: str) -> None:
    assert fields_of(Fee, fee) == {field}


def test_float_from_json_body_is_refused_with_a_hint() -> None:
    with pytest.raises(ValidationError) as caught:
        Fee.model_validate_json('{"monthly_net": 1200.10}')
    [(loc, message)] = list(iter_problems(caught.value))
    assert loc == ("monthly_net",)
    assert '"1200.00"' in message
    assert Fee.model_validate_json('{"monthly_net": "1200.10"}').monthly_net == Decimal("1200.10")
    assert Fee.model_validate_json('{"monthly_net": 1200}').monthly_net == Decimal("1200.00")


cents = st.decimals(min_value=0, max_value=Decimal("99999.99"), places=2, allow_nan=False, allow_infinity=False)


@given(cents, st.sampled_from(["0", "5", "8", "23"]), st.integers(0, 500), cents)
def test_gross_is_net_plus_vat_within_half_a_grosz(net: Decimal, rate: str, employees: int, per: Decimal) -> None:
    fee = Fee.model_validate({"monthly_net": str(net), "vat_rate": rate, "per_employee": str(per)})
    month = fee.breakdown(employees=employees)
    assert month.net == net + per * employees
    exact = month.net * Decimal(rate) / 100
    assert abs(month.vat - exact) <= Decimal("0.005")
    assert month.gross == month.net + month.vat
    assert month.gross.as_tuple().exponent == -2


# ---- terms document -----------------------------------------------------------------------------

TERMS_MD_EXAMPLE = {
    "client": {"legal_form": "llc", "nip": "5260250274", "books": "full", "income_tax": "cit",
               "income_tax_advances": "monthly", "vat": "monthly", "vat_eu": True, "employees": 12,
               "ppk": True, "fiscal_year_end": "12-31", "in_krs": True},
    "contract": {"services": ["bookkeeping", "vat", "income_tax", "payroll", "zus", "annual_statements"],
                 "start": "2026-01-01", "end": None},
}  # fmt: skip


def test_terms_md_example_round_trips_with_only_the_extensions_added() -> None:
    document = TermsDocument.model_validate(TERMS_MD_EXAMPLE).to_json()
    assert document["contract"] == TERMS_MD_EXAMPLE["contract"]
    assert document["client"] == {**TERMS_MD_EXAMPLE["client"], "intrastat": False, "pfron": False,
                                  "flat_rate_withholding": False}
    assert list(document["client"])[:2] == ["legal_form", "nip"]
    assert json.loads(json.dumps(document)) == document


def test_terms_document_from_models_keeps_pesel_out() -> None:
    document = terms_document(ClientIn.model_validate(sole_trader()), ContractIn.model_validate(contract())).to_json()
    assert document["client"]["nip"] == "5259939082"
    assert document["client"]["regon"] == "142251278"
    assert "pesel" not in document["client"]
    assert document["client"]["legal_form"] == "sole_trader"
    assert document["contract"] == {
        "services": ["bookkeeping", "vat", "income_tax", "payroll"],
        "start": "2026-01-01",
        "end": None,
        "signed_on": contract()["signed_on"],
        "parameters": {"payroll": {"headcount_limit": 15}},
    }
    assert TermsDocument.model_validate(document).contract.services[3].parameters == {"headcount_limit": 15}
    assert TermsDocument.model_validate(document).to_json() == document


def test_terms_document_from_a_profile_has_no_identifiers() -> None:
    profile = TaxProfile.model_validate(company_profile())
    contract_terms = ContractTerms.model_validate({"services": ["vat"], "start": "2026-02-01", "end": "2026-12-31"})
    document = terms_document(profile, contract_terms).to_json()
    assert document["contract"] == {"services": ["vat"], "start": "2026-02-01", "end": "2026-12-31"}
    assert "nip" not in document["client"]
    assert TermsDocument.model_validate(TERMS_MD_EXAMPLE).client.nip == "5260250274"


def test_terms_document_rejects_an_invalid_mapping_with_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        TermsDocument.model_validate({"client": company_profile(vat="yearly"),
                                      "contract": {"services": ["vat"], "start": "2026-01-01"}})
    assert error_fields(caught.value) == ["client.vat"]
