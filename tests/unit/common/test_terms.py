"""The one terms model: the documented JSON shape, and every service's view of the vocabulary follows from it."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from services.common.messages import ContractSnapshot
from services.common.terms import (
    GLOSSARY_BEGIN,
    IDENTIFIERS,
    Service,
    TeamRole,
    TermsDocument,
    client_terms,
    glossary_markdown,
    term_labels,
)
from services.contracts.domain import TaxProfile
from services.contracts.importing import COLUMNS
from services.scheduler.domain.facts import CLIENT_TERMS, SERVICES, build_fact, fact_key
from services.scheduler.domain.rules import ROLES

GLOSSARY = Path(__file__).resolve().parents[3] / "docs" / "glossary.md"

TERMS_JSON: dict[str, Any] = {
    "client": {"legal_form": "llc", "nip": "5260250274", "krs": "0000512347", "books": "full", "income_tax": "cit",
               "income_tax_advances": "monthly", "vat": "monthly", "vat_eu": True, "employees": 12, "ppk": True,
               "fiscal_year_end": "12-31", "in_krs": True, "intrastat": False, "pfron": False,
               "flat_rate_withholding": True},
    "contract": {"services": ["bookkeeping", "vat", "payroll"], "start": "2026-01-01", "end": None,
                 "signed_on": "2025-12-29", "parameters": {"payroll": {"headcount_limit": 15}}},
}


def test_the_glossary_lists_the_vocabulary_as_the_model_defines_it() -> None:
    text = GLOSSARY.read_text(encoding="utf-8")
    assert glossary_markdown() in text, "run: python -m services.common.terms"
    assert text.count(GLOSSARY_BEGIN) == 1
    for info in client_terms():
        assert f"| `{info.field}` | {info.label.pl} |" in text


def test_every_client_term_reaches_the_rules_the_fact_the_contracts_service_the_import_and_the_labels() -> None:
    fact = build_fact(TERMS_JSON)
    columns = {c.name for c in COLUMNS}
    labels = term_labels("pl")
    for info in client_terms():
        assert CLIENT_TERMS[info.name].kind == info.kind, info.name
        assert CLIENT_TERMS[info.name].values == {v.value for v in info.values}
        assert fact_key(info.name) in fact, info.name
        assert labels[info.field] and term_labels("en")[info.field]
        if not info.derived and info.field not in IDENTIFIERS:
            assert info.field in TaxProfile.model_fields, info.field
            assert info.field in columns, info.field
        for value in info.values:
            assert value.label.pl and value.label.en
    assert {s.value for s in Service} == SERVICES
    assert all(fact[fact_key(f"service.{s.value}")] is (s.value in TERMS_JSON["contract"]["services"])
               for s in Service)
    assert tuple(r.value for r in TeamRole) == ROLES


def test_the_document_reads_and_writes_the_json_of_terms_md() -> None:
    document = TermsDocument.model_validate(TERMS_JSON)
    assert document.client.legal_person is True
    assert document.contract.services[2].typed_parameters().model_dump() == {"headcount_limit": 15}
    assert document.to_json() == TERMS_JSON
    assert list(document.to_json()["client"])[:3] == ["legal_form", "nip", "krs"]
    # Services may also come as objects; the written shape is always names plus `parameters`.
    payroll = {"name": "payroll", "parameters": {"headcount_limit": 15}}
    objects = {**TERMS_JSON, "contract": {"services": ["vat", payroll], "start": "2026-01-01"}}
    assert TermsDocument.model_validate(objects).to_json()["contract"] == {
        "services": ["vat", "payroll"], "start": "2026-01-01", "end": None,
        "parameters": {"payroll": {"headcount_limit": 15}}}


@pytest.mark.parametrize(("change", "field"), [
    ({"client": {**TERMS_JSON["client"], "vat_ue": True}}, "client.vat_ue"),
    ({"client": {**TERMS_JSON["client"], "employees": -1}}, "client.employees"),
    ({"client": {k: v for k, v in TERMS_JSON["client"].items() if k != "books"}}, "client.books"),
    ({"contract": {**TERMS_JSON["contract"], "parameters": {"zus": {"x": 1}}}}, "contract.parameters"),
    ({"contract": {**TERMS_JSON["contract"], "end": "2025-12-31"}}, "contract.end"),
    ({"contract": {"services": ["vat", "vat"], "start": "2026-01-01"}}, "contract.services"),
    ({"contract": {**TERMS_JSON["contract"], "end": "2026-03-31", "notice_on": "2026-04-01"}}, "contract.notice_on"),
])  # fmt: skip
def test_a_wrong_document_names_the_term(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        TermsDocument.model_validate({**TERMS_JSON, **change})
    assert {".".join(map(str, e["loc"][:2])) for e in caught.value.errors()} == {field}


def test_contract_events_carry_the_same_json_as_before_the_model() -> None:
    snapshot = ContractSnapshot(contract_id="1", number="UM/1", client_id="7", client_name="K", version=1,
                                effective_from=date(2026, 1, 1), terms=TERMS_JSON, team={"accountant": None})
    payload = snapshot.model_dump(mode="json")
    assert payload["terms"] == TERMS_JSON
    assert ContractSnapshot.model_validate(payload) == snapshot
