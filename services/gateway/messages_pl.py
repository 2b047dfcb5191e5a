"""The services' validation messages (English, for the API) said in Polish on the forms.

Each entry is a pattern of one message the contracts domain or the terms model writes and its Polish text; a
`{name}` in the Polish text is the pattern's group of that name, with a vocabulary value (`llc`, `kpir`) shown by
its Polish label and an ISO date as DD.MM.YYYY. A message without an entry is shown as it is — add an entry
here when a new message reaches a form (tests/unit/test_messages_pl.py lists what must be translated).
"""

from __future__ import annotations

import re
from datetime import date

from services.common.terms import Books, IncomeTax, LegalForm

_LABELS = {v.value: v.label.pl for vocabulary in (LegalForm, Books, IncomeTax) for v in vocabulary}
_ID = r"(?P<kind>NIP|REGON|PESEL|KRS)"

_CATALOG: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(pattern), polish) for pattern, polish in (
    # Identifiers: "<kind> <reason> (got '<raw>')"
    (_ID + r" must be given as text, not a number", "{kind} trzeba podać jako tekst, nie liczbę (zera na początku "
                                                   "mają znaczenie)."),
    (_ID + r" is empty", "Podaj {kind}."),
    (_ID + r" may contain only digits, spaces, dashes and a PL prefix",
     "{kind} może zawierać tylko cyfry, spacje, myślniki i prefiks PL."),
    (_ID + r" may contain only digits, spaces and dashes", "{kind} może zawierać tylko cyfry, spacje i myślniki."),
    (r"KRS must have [\d or]+ digits, got (?P<got>\d+)", "Numer KRS ma najwyżej 10 cyfr, a podano {got}."),
    (_ID + r" must have (?P<n>[\d or]+) digits, got (?P<got>\d+)", "{kind} ma {n} cyfr, a podano {got}."),
    (_ID + r" checksum does not match: the weighted sum leaves remainder 10",
     "Błędna suma kontrolna {kind} — taki numer nie istnieje; sprawdź, czy nie ma literówki."),
    (_ID + r" checksum does not match: last digit should be (?P<d>\d)",
     "Błędna suma kontrolna {kind}: ostatnia cyfra powinna być {d}; sprawdź, czy nie ma literówki."),
    (r"REGON checksum the first 9 digits \(the parent unit's REGON\) do not match: digit 9 should be (?P<d>\d)",
     "Błędna suma kontrolna REGON jednostki macierzystej (pierwsze 9 cyfr): 9. cyfra powinna być {d}."),
    (r"REGON checksum does not match: digit 9 should be (?P<d>\d)",
     "Błędna suma kontrolna REGON: 9. cyfra powinna być {d}."),
    (r"PESEL encodes no valid birth month \(digits 3-4 are (?P<mm>\d+)\)",
     "PESEL nie zawiera poprawnego miesiąca urodzenia (cyfry 3–4 to {mm})."),
    (r"PESEL encodes no valid birth date \((?P<d>[\d-]+)\)", "PESEL nie zawiera poprawnej daty urodzenia ({d})."),
    (_ID + r" cannot be all zeros", "{kind} nie może składać się z samych zer."),
    # The client and its tax profile
    (r"a legal person \((?P<form>\w+)\) pays CIT, not (?P<tax>\w+)",
     "Osoba prawna ({form}) płaci CIT, nie: {tax}."),
    (r"a (?P<form>\w+) pays PIT, not (?P<tax>\w+)", "Forma „{form}” płaci PIT, nie: {tax}."),
    (r"a legal person \((?P<form>\w+)\) keeps full books, not (?P<books>\w+)",
     "Osoba prawna ({form}) prowadzi księgi rachunkowe, nie: {books}."),
    (r"a (?P<tax>\w+) payer keeps full books, not (?P<books>\w+)",
     "Podatnik {tax} prowadzi księgi rachunkowe, nie: {books}."),
    (r"revenue_records go with pit_ryczalt", "Ewidencja przychodów idzie w parze z ryczałtem, a ryczałt z ewidencją "
                                            "przychodów albo księgami rachunkowymi."),
    (r"no income tax means no advances", "Bez podatku dochodowego nie ma zaliczek: wybierz „brak”."),
    (r"for PIT the tax year is the calendar year", "Dla PIT rok podatkowy to rok kalendarzowy: wpisz 12-31."),
    (r"a (?P<form>\w+) is not registered in KRS", "Forma „{form}” nie jest wpisywana do KRS."),
    (r"a Polish postal code is NN-NNN", "Kod pocztowy ma postać NN-NNN, np. 00-950."),
    (r"PESEL is required for a natural person \((?P<form>\w+)\)",
     "PESEL jest wymagany dla osoby fizycznej ({form})."),
    (r"PESEL is only recorded for a sole_trader, not for a (?P<form>\w+)",
     "PESEL podaje się tylko dla jednoosobowej działalności, nie dla formy „{form}”."),
    (r"the client is registered in KRS \(in_krs\), so give its KRS number",
     "Klient jest wpisany do KRS — podaj numer KRS."),
    (r"a (?P<form>\w+) has no KRS number", "Forma „{form}” nie ma numeru KRS — zostaw pole puste."),
    (r"^not an e-mail address", "To nie jest adres e-mail."),
    (r"is not an e-mail address", "To nie jest adres e-mail."),
    (r"^an e-mail address ", "To nie jest poprawny adres e-mail."),
    (r"^a user login ", "Login użytkownika to 1–64 znaki bez spacji."),
    # The contract
    (r"per_document and document_threshold are given together",
     "Cenę za dokument i liczbę dokumentów w opłacie podaje się razem albo wcale."),
    (r"the contract includes payroll, so name its payroll specialist",
     "Umowa obejmuje płace — wskaż specjalistę ds. płac."),
    (r"fiscal_year_end is written MM-DD", "Koniec roku obrotowego wpisz jako MM-DD, np. 12-31."),
    (r"a fiscal year ends on the last day of a month: write (?P<end>\d\d-\d\d)",
     "Rok obrotowy kończy się ostatniego dnia miesiąca: wpisz {end}."),
    (r"each service is listed once; listed more than once: (?P<names>.+)",
     "Każdą usługę wybiera się raz; powtórzone: {names}."),
    (r"end (?P<end>\d{4}-\d\d-\d\d) is before start (?P<start>\d{4}-\d\d-\d\d)",
     "Koniec ({end}) jest przed początkiem ({start})."),
    (r"notice given on (?P<on>\d{4}-\d\d-\d\d), after the end (?P<end>\d{4}-\d\d-\d\d)",
     "Wypowiedzenie z {on} jest po końcu umowy ({end})."),
    (r"is set by recording a termination", "Koniec umowy ustala się, rejestrując jej rozwiązanie."),
    # Personal data
    (r"the client's personal data was erased", "Dane osobowe klienta usunięto po okresie przechowywania: jego umów "
                                               "nie można już zmieniać ani zawierać nowych."),
))


def _shown(value: str) -> str:
    if re.fullmatch(r"\d+( or \d+)+", value):
        return value.replace(" or ", " lub ")
    if re.fullmatch(r"\d{4}-\d\d-\d\d", value):
        return date.fromisoformat(value).strftime("%d.%m.%Y")
    return _LABELS.get(value, value)


def translated(message: str) -> str | None:
    """The Polish text of a known message, or None."""
    for pattern, polish in _CATALOG:
        found = pattern.search(message)
        if found:
            return polish.format(**{name: _shown(value) for name, value in found.groupdict().items()})
    return None
