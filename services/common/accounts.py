"""Polish bank account numbers: the NRB check digits (ISO 13616 mod 97) and the tax mikrorachunek.

Shared so that the contracts service (which records a client's accounts) and the notifier (which prints them
on a notice) check them the same way. The rules are in shared/domain/obligations.md §9.2 (mikrorachunek:
`LK 10100071 222 Y <identifier padded to 12>`, Y = 1 for a PESEL, 2 for a NIP) and §6.4 (the ZUS NRS).
"""

from __future__ import annotations

from typing import Literal

MIKRORACHUNEK_BANK = "10100071"  # NBP sort code of every mikrorachunek
MIKRORACHUNEK_SUPPLEMENT = "222"
_PL = "2521"  # the letters P and L as ISO 13616 turns them into digits (P = 25, L = 21)
_NIP_WEIGHTS = (6, 5, 7, 2, 3, 4, 5, 6, 7)
_PESEL_WEIGHTS = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)

IdentifierKind = Literal["NIP", "PESEL"]


class AccountError(ValueError):
    """A number that is not what it claims to be; the message says what is wrong with it."""


def _digits_only(raw: str, what: str) -> str:
    text = "".join(raw.split()).replace("-", "")
    if text[:2].upper() == "PL":
        text = text[2:]
    if not (text.isascii() and text.isdigit()):
        raise AccountError(f"{what} may contain only digits, spaces, dashes and a PL prefix")
    return text


def check_digits(bban: str) -> str:
    """The two check digits of a Polish account whose 24-digit BBAN is given (98 − BBAN·PL00 mod 97)."""
    return f"{98 - int(bban + _PL + '00') % 97:02d}"


def nrb_checksum_ok(nrb: str) -> bool:
    """True when a 26-digit NRB's check digits match the rest (BBAN · PL · check digits ≡ 1 mod 97)."""
    return len(nrb) == 26 and nrb.isdigit() and int(nrb[2:] + _PL + nrb[:2]) % 97 == 1


def normalize_nrb(raw: str, what: str = "account number") -> str:
    """The 26 digits of a Polish account number (NRB); accepts spaces, dashes and a `PL` (IBAN) prefix.

    Raises AccountError naming what is wrong: not digits, not 26 of them, or check digits that do not match."""
    nrb = _digits_only(raw, what)
    if len(nrb) != 26:
        raise AccountError(f"{what} must have 26 digits (NRB), got {len(nrb)}")
    if not nrb_checksum_ok(nrb):
        raise AccountError(f"{what} check digits do not match (should be {check_digits(nrb[2:])}): a digit is "
                           "mistyped")
    return nrb


def format_nrb(nrb: str) -> str:
    """`88101000712222123456321800` → `88 1010 0071 2222 1234 5632 1800`, as printed on Polish transfer forms."""
    return " ".join([nrb[:2], *(nrb[i:i + 4] for i in range(2, 26, 4))])


def nip_valid(nip: str) -> bool:
    if len(nip) != 10 or not nip.isdigit():
        return False
    check = sum(int(d) * w for d, w in zip(nip, _NIP_WEIGHTS, strict=False)) % 11
    return check != 10 and check == int(nip[9])


def pesel_valid(pesel: str) -> bool:
    if len(pesel) != 11 or not pesel.isdigit():
        return False
    return (10 - sum(int(d) * w for d, w in zip(pesel, _PESEL_WEIGHTS, strict=False)) % 10) % 10 == int(pesel[10])


def mikrorachunek(*, nip: str | None = None, pesel: str | None = None) -> str:
    """The tax mikrorachunek of a NIP (businesses, VAT payers, payers) or, given no NIP, of a PESEL.

    Raises AccountError when neither is given or the one used has a wrong checksum."""
    if nip:
        nip = _digits_only(nip, "NIP")
        if not nip_valid(nip):
            raise AccountError("NIP checksum does not match: no mikrorachunek can be computed from it")
        bban = MIKRORACHUNEK_BANK + MIKRORACHUNEK_SUPPLEMENT + "2" + nip + "00"
    elif pesel:
        pesel = _digits_only(pesel, "PESEL")
        if not pesel_valid(pesel):
            raise AccountError("PESEL checksum does not match: no mikrorachunek can be computed from it")
        bban = MIKRORACHUNEK_BANK + MIKRORACHUNEK_SUPPLEMENT + "1" + pesel + "0"
    else:
        raise AccountError("a mikrorachunek needs the client's NIP or PESEL")
    return check_digits(bban) + bban


def mikrorachunek_owner(nrb: str) -> tuple[IdentifierKind, str] | None:
    """(NIP | PESEL, identifier) when a valid NRB has the mikrorachunek structure, otherwise None."""
    if not nrb_checksum_ok(nrb) or nrb[2:10] != MIKRORACHUNEK_BANK or nrb[10:13] != MIKRORACHUNEK_SUPPLEMENT:
        return None
    kind, rest = nrb[13], nrb[14:]
    if kind == "2" and rest.endswith("00") and nip_valid(rest[:10]):
        return "NIP", rest[:10]
    if kind == "1" and rest.endswith("0") and pesel_valid(rest[:11]):
        return "PESEL", rest[:11]
    return None


def normalize_mikrorachunek(raw: str, *, nip: str | None = None, pesel: str | None = None) -> str:
    """A valid NRB with the mikrorachunek structure (`10100071 222 Y id`); when the client's NIP or PESEL is
    given, it must be the identifier inside. Raises AccountError saying which part is wrong."""
    nrb = normalize_nrb(raw, "mikrorachunek")
    if nrb[2:10] != MIKRORACHUNEK_BANK or nrb[10:13] != MIKRORACHUNEK_SUPPLEMENT:
        raise AccountError(f"a mikrorachunek starts with {MIKRORACHUNEK_BANK} {MIKRORACHUNEK_SUPPLEMENT} after the "
                           "check digits")
    owner = mikrorachunek_owner(nrb)
    if owner is None:
        raise AccountError("mikrorachunek: digit 14 must be 2 (a NIP and 00) or 1 (a PESEL and 0), and the "
                           "identifier's own checksum must match")
    expected = ("NIP", _digits_only(nip, "NIP")) if nip else ("PESEL", _digits_only(pesel, "PESEL")) if pesel else None
    if expected is not None and owner != expected:
        raise AccountError(f"mikrorachunek belongs to {owner[0]} {owner[1]}, not to the client's "
                           f"{expected[0]} {expected[1]}")
    return nrb
