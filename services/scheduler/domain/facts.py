"""Terms as the rules see them: the vocabulary rule conditions may name, and the flat fact they are evaluated on.

Both follow from services/common/terms.py: a term added there is a term rule files may use and a key of the fact.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from services.common.terms import (
    ClientTerms,
    Service,
    TermInfo,
    TermKind,
    TermsDocument,
    Vocabulary,
    client_terms,
    service_terms,
)

Scalar = str | int | bool


@dataclass(frozen=True)
class TermSpec:
    """One client term a condition may name: its type and, for enums, the allowed values."""

    name: str
    kind: TermKind
    values: frozenset[str] = frozenset()
    derived: bool = False

    @classmethod
    def of(cls, info: TermInfo) -> TermSpec:
        return cls(info.name, info.kind, frozenset(v.value for v in info.values), info.derived)


CLIENT_TERMS: dict[str, TermSpec] = {info.name: TermSpec.of(info) for info in client_terms()}
SERVICES = frozenset(s.value for s in Service)

# A fact always carries this pair, so a rule that applies to every contract ("when: always") has
# something to match: durable_rules' $ex operator hung the process when it was tried.
FACT_KIND_KEY = "kind"
FACT_KIND = "terms"


def fact_key(term: str) -> str:
    """The flat fact key of a term: `client.vat` → `client__vat`, `service.vat` → `service__vat`."""
    return term.replace(".", "__")


@dataclass(frozen=True)
class TermsProblem:
    """A value in a terms document that cannot be evaluated."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"field '{self.field}': {self.message}"


class TermsError(ValueError):
    """A terms document has values the rules cannot be evaluated against."""

    def __init__(self, problems: list[TermsProblem]) -> None:
        self.problems = problems
        super().__init__("invalid contract terms:\n" + "\n".join(f"  {p}" for p in problems))


def parse_terms(terms: TermsDocument | Mapping[str, Any]) -> TermsDocument:
    """The typed terms document; a mapping (JSON) is validated, TermsError naming each wrong term."""
    if isinstance(terms, TermsDocument):
        return terms
    try:
        return TermsDocument.model_validate(terms)
    except ValidationError as error:
        # `client.vat`, `contract.services`: the term to fix, as rule files name it.
        problems = [TermsProblem(".".join(str(part) for part in e["loc"][:2]) or "terms",
                                 str(e["msg"]).removeprefix("Value error, ")) for e in error.errors()]
        raise TermsError(problems) from None


# (fact key, attribute) of the client terms a document holds, and of the derived ones.
_CLIENT_FIELDS = tuple((fact_key(info.name), info.field) for info in client_terms() if not info.derived)
_DERIVED_FIELDS = tuple((fact_key(info.name), info.field) for info in client_terms() if info.derived)
_SERVICE_KEYS = tuple((fact_key(info.name), Service(info.field)) for info in service_terms())


def build_fact(terms: TermsDocument | Mapping[str, Any]) -> dict[str, Scalar]:
    """The flat fact rules are evaluated against: `client__<term>` for every client term (derived ones too),
    `service__<name>` true or false for every service, and kind=terms. TermsError if a mapping is invalid."""
    document = parse_terms(terms)
    client: ClientTerms = document.client
    fact: dict[str, Scalar] = {FACT_KIND_KEY: FACT_KIND}
    # Every term is present in the fact with a value of its own type: durable_rules compares loosely
    # (1 == True, "5" == 5), and a missing key never matches "not equal", so nothing is left implicit.
    given = client.__dict__  # the validated fields (read directly: this runs for every contract version)
    for key, attribute in _CLIENT_FIELDS:
        value = given[attribute]
        # An enum term as its plain text; an identifier not given as empty text.
        fact[key] = value._value_ if isinstance(value, Vocabulary) else "" if value is None else value
    for key, attribute in _DERIVED_FIELDS:
        fact[key] = getattr(client, attribute)
    chosen = {s.name for s in document.contract.services}
    for key, service in _SERVICE_KEYS:
        fact[key] = service in chosen
    return fact
