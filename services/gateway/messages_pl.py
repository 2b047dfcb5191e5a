"""The services' validation messages (English, for the API) said in the UI's language on the forms.

The Polish texts below are msgids of the gettext catalog (services/gateway/i18n.py): the English UI shows the
catalog's English text, with the same `{name}` fields.

Each entry is a pattern of one message the contracts domain or the terms model writes and its Polish text; a
`{name}` in the Polish text is the pattern's group of that name, with a vocabulary value (`llc`, `kpir`) shown by
its Polish label and an ISO date as DD.MM.YYYY. A message without an entry is shown as it is — add an entry
here when a new message reaches a form (tests/unit/test_messages_pl.py lists what must be translated).
"""

from __future__ import annotations

import re
from datetime import date

from services.common.terms import Books, IncomeTax, LegalForm
from services.gateway import format as fmt
from services.gateway import i18n
from services.gateway.i18n import N_

_LABELS = {v.value: v.label for vocabulary in (LegalForm, Books, IncomeTax) for v in vocabulary}
_ID = r"(?P<kind>NIP|REGON|PESEL|KRS)"

_CATALOG: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(pattern), polish) for pattern, polish in (
    # Identifiers: "<kind> <reason> (got '<raw>')"
    (_ID + r" must be given as text, not a number", N_("{kind} trzeba podać jako tekst, nie liczbę (zera na początku "
                                                   "mają znaczenie).")),
    (_ID + r" is empty", N_("Podaj {kind}.")),
    (_ID + r" may contain only digits, spaces, dashes and a PL prefix",
     N_("{kind} może zawierać tylko cyfry, spacje, myślniki i prefiks PL.")),
    (_ID + r" may contain only digits, spaces and dashes", N_("{kind} może zawierać tylko cyfry, spacje i myślniki.")),
    (r"KRS must have [\d or]+ digits, got (?P<got>\d+)", N_("Numer KRS ma najwyżej 10 cyfr, a podano {got}.")),
    (_ID + r" must have (?P<n>[\d or]+) digits, got (?P<got>\d+)", N_("{kind} ma {n} cyfr, a podano {got}.")),
    (_ID + r" checksum does not match: the weighted sum leaves remainder 10",
     N_("Błędna suma kontrolna {kind} — taki numer nie istnieje; sprawdź, czy nie ma literówki.")),
    (_ID + r" checksum does not match: last digit should be (?P<d>\d)",
     N_("Błędna suma kontrolna {kind}: ostatnia cyfra powinna być {d}; sprawdź, czy nie ma literówki.")),
    (r"REGON checksum the first 9 digits \(the parent unit's REGON\) do not match: digit 9 should be (?P<d>\d)",
     N_("Błędna suma kontrolna REGON jednostki macierzystej (pierwsze 9 cyfr): 9. cyfra powinna być {d}.")),
    (r"REGON checksum does not match: digit 9 should be (?P<d>\d)",
     N_("Błędna suma kontrolna REGON: 9. cyfra powinna być {d}.")),
    (r"PESEL encodes no valid birth month \(digits 3-4 are (?P<mm>\d+)\)",
     N_("PESEL nie zawiera poprawnego miesiąca urodzenia (cyfry 3–4 to {mm}).")),
    (r"PESEL encodes no valid birth date \((?P<d>[\d-]+)\)", N_("PESEL nie zawiera poprawnej daty urodzenia ({d}).")),
    (_ID + r" cannot be all zeros", N_("{kind} nie może składać się z samych zer.")),
    # The client and its tax profile
    (r"a legal person \((?P<form>\w+)\) pays CIT, not (?P<tax>\w+)",
     N_("Osoba prawna ({form}) płaci CIT, nie: {tax}.")),
    (r"a (?P<form>\w+) pays PIT, not (?P<tax>\w+)", N_("Forma „{form}” płaci PIT, nie: {tax}.")),
    (r"a legal person \((?P<form>\w+)\) keeps full books, not (?P<books>\w+)",
     N_("Osoba prawna ({form}) prowadzi księgi rachunkowe, nie: {books}.")),
    (r"a (?P<tax>\w+) payer keeps full books, not (?P<books>\w+)",
     N_("Podatnik {tax} prowadzi księgi rachunkowe, nie: {books}.")),
    (r"revenue_records go with pit_ryczalt", N_("Ewidencja przychodów idzie w parze z ryczałtem, a ryczałt z ewidencją "
                                            "przychodów albo księgami rachunkowymi.")),
    (r"no income tax means no advances", N_("Bez podatku dochodowego nie ma zaliczek: wybierz „brak”.")),
    (r"for PIT the tax year is the calendar year", N_("Dla PIT rok podatkowy to rok kalendarzowy: wpisz 12-31.")),
    (r"a (?P<form>\w+) is not registered in KRS", N_("Forma „{form}” nie jest wpisywana do KRS.")),
    (r"a Polish postal code is NN-NNN", N_("Kod pocztowy ma postać NN-NNN, np. 00-950.")),
    (r"PESEL is required for a natural person \((?P<form>\w+)\)",
     N_("PESEL jest wymagany dla osoby fizycznej ({form}).")),
    (r"PESEL is only recorded for a sole_trader, not for a (?P<form>\w+)",
     N_("PESEL podaje się tylko dla jednoosobowej działalności, nie dla formy „{form}”.")),
    (r"the client is registered in KRS \(in_krs\), so give its KRS number",
     N_("Klient jest wpisany do KRS — podaj numer KRS.")),
    (r"a (?P<form>\w+) has no KRS number", N_("Forma „{form}” nie ma numeru KRS — zostaw pole puste.")),
    (r"^not an e-mail address", N_("To nie jest adres e-mail.")),
    (r"is not an e-mail address", N_("To nie jest adres e-mail.")),
    (r"^an e-mail address ", N_("To nie jest poprawny adres e-mail.")),
    (r"^a user login ", N_("Login użytkownika to 1–64 znaki bez spacji.")),
    # Contacts and accounts (services/common/accounts.py, ClientIn)
    (r"(account number|mikrorachunek) may contain only digits",
     N_("Numer rachunku może zawierać tylko cyfry, spacje, myślniki i prefiks PL.")),
    (r"(account number|mikrorachunek) must have 26 digits \(NRB\), got (?P<got>\d+)",
     N_("Numer rachunku ma 26 cyfr (NRB), a podano {got}.")),
    (r"(account number|mikrorachunek) check digits do not match \(should be (?P<cd>\d+)\)",
     N_("Cyfry kontrolne rachunku się nie zgadzają (powinny być {cd}): sprawdź, czy nie ma literówki.")),
    (r"a mikrorachunek starts with", N_("Mikrorachunek po cyfrach kontrolnych zaczyna się od 10100071 222.")),
    (r"^mikrorachunek: digit 14", N_("To nie jest mikrorachunek: 14. cyfra to 2 (NIP i 00) albo 1 (PESEL i 0), a "
                                  "numer w środku ma poprawną sumę kontrolną.")),
    (r"this mikrorachunek belongs to (?P<kind>NIP|PESEL) (?P<id>\d+)",
     N_("Ten mikrorachunek należy do {kind} {id}, nie do tego klienta.")),
    (r"already listed as recipient (?P<n>\d+)", N_("Ten adres jest już odbiorcą nr {n}.")),
    (r"tax profile changes by an annex", N_("Profil podatkowy zmienia się aneksem do umowy (od wskazanej daty).")),
    # The contract
    (r"per_document and document_threshold are given together",
     N_("Cenę za dokument i liczbę dokumentów w opłacie podaje się razem albo wcale.")),
    (r"the contract includes payroll, so name its payroll specialist",
     N_("Umowa obejmuje płace — wskaż specjalistę ds. płac.")),
    (r"fiscal_year_end is written MM-DD", N_("Koniec roku obrotowego wpisz jako MM-DD, np. 12-31.")),
    (r"a fiscal year ends on the last day of a month: write (?P<end>\d\d-\d\d)",
     N_("Rok obrotowy kończy się ostatniego dnia miesiąca: wpisz {end}.")),
    (r"each service is listed once; listed more than once: (?P<names>.+)",
     N_("Każdą usługę wybiera się raz; powtórzone: {names}.")),
    (r"end (?P<end>\d{4}-\d\d-\d\d) is before start (?P<start>\d{4}-\d\d-\d\d)",
     N_("Koniec ({end}) jest przed początkiem ({start}).")),
    (r"notice given on (?P<on>\d{4}-\d\d-\d\d), after the end (?P<end>\d{4}-\d\d-\d\d)",
     N_("Wypowiedzenie z {on} jest po końcu umowy ({end}).")),
    (r"is set by recording a termination", N_("Koniec umowy ustala się, rejestrując jej rozwiązanie.")),
    # Personal data
    (r"the client's personal data was erased", N_("Dane osobowe klienta usunięto po okresie przechowywania: jego umów "
                                               "nie można już zmieniać ani zawierać nowych.")),
    # Absences and reassignments (the cases service)
    (r"the absence cannot end before it starts", N_("Nieobecność nie może skończyć się przed swoim początkiem.")),
    (r"a person cannot stand in for themselves", N_("Nikt nie zastępuje sam siebie: wybierz inną osobę.")),
    (r"overlaps the absence (?P<start>\d{4}-\d\d-\d\d) – (?P<end>\d{4}-\d\d-\d\d)",
     N_("Ta osoba ma już nieobecność {start} – {end}.")),
    (r"\S+ is absent (?P<start>\d{4}-\d\d-\d\d) – (?P<end>\d{4}-\d\d-\d\d)",
     N_("Zastępca jest nieobecny {start} – {end}: wybierz inną osobę.")),
    (r"must be from (?P<start>\d{4}-\d\d-\d\d) and before (?P<end>\d{4}-\d\d-\d\d)",
     N_("Ostatni dzień musi przypadać od {start} i przed {end}; aby wycofać całą nieobecność, odwołaj ją.")),
    (r"absence \S+ was cancelled", N_("Ta nieobecność została odwołana.")),
    (r"^choose a staff member", N_("Wybierz osobę.")),
    (r"no active user with login '(?P<login>[^']*)'", N_("Nie ma aktywnego użytkownika „{login}”.")),
    (r"the case is already assigned to ", N_("Sprawa jest już przypisana tej osobie.")),
    (r"choose someone other than from_login", N_("Wybierz inną osobę niż ta, od której przekazujesz sprawy.")),
    (r"only open cases are reassigned", N_("Sprawa jest zakończona: przekazuje się tylko otwarte sprawy.")),
))


def _shown(value: str) -> str:
    if re.fullmatch(r"\d+( or \d+)+", value):
        return value.replace(" or ", " " + i18n.gettext("lub") + " ")
    if re.fullmatch(r"\d{4}-\d\d-\d\d", value):
        return fmt.day(date.fromisoformat(value))
    label = _LABELS.get(value)
    return value if label is None else (label.en if i18n.current() == "en" else label.pl)


def translated(message: str) -> str | None:
    """The text of a known message in the page's language (Polish or English: the catalog's), or None."""
    for pattern, polish in _CATALOG:
        found = pattern.search(message)
        if found:
            return i18n.gettext(polish).format(**{name: _shown(value) for name, value in found.groupdict().items()})
    return None
