"""Amounts as accountants type them, and file types as the content says (not the name)."""

from __future__ import annotations

import io
import zipfile
from decimal import Decimal

import pytest

from services.cases.lifecycle import parse_amount
from services.common.files import clean_name, sniff


@pytest.mark.parametrize(("typed", "amount"), [
    ("1 200,00", Decimal("1200.00")), ("1200.00", Decimal("1200.00")), ("1.200,50", Decimal("1200.50")),
    ("0", Decimal("0.00")), (0, Decimal("0.00")), ("12,5", Decimal("12.50")), ("1\u00a0234,56", Decimal("1234.56")),
    (" 7 ", Decimal("7.00")),
])
def test_amounts_as_people_type_them(typed: object, amount: Decimal) -> None:
    assert parse_amount(typed) == amount


@pytest.mark.parametrize("typed", ["-5", "abc", "1,234,5", "12.345", "1e3", "", "NaN", "Infinity", True, 1.5,
                                   "9999999999999"])
def test_what_is_not_an_amount_is_refused(typed: object) -> None:
    with pytest.raises(ValueError):
        parse_amount(typed)


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("upo.xml", "<UPO/>")
    return out.getvalue()


@pytest.mark.parametrize(("head", "mime"), [
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 16, "image/png"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "image/jpeg"),
    (_zip(), "application/zip"),
    (b'<?xml version="1.0"?><Potwierdzenie/>', "application/xml"),
    ("\ufeff<UPO>zażółć</UPO>".encode(), "application/xml"),
    ("Oświadczenie podpisane 28.11.2026\r\n".encode(), "text/plain"),
    (b"MZ\x90\x00\x03\x00\x00\x00", None),  # a Windows program
    (b"\x7fELF\x02\x01\x01\x00", None),
    (b"GIF89a\x01\x00", None),  # an image type not on the list
    (b"\x00\x01\x02binary", None),
    ("żółw".encode("cp1250"), None),  # not UTF-8 text
])
def test_the_content_decides_the_type(head: bytes, mime: str | None) -> None:
    assert sniff(head) == mime


def test_file_names_lose_their_folders_and_control_characters() -> None:
    assert clean_name("../../etc/passwd") == "passwd"
    assert clean_name("C:\\Users\\anna\\UPO marzec.pdf") == "UPO marzec.pdf"
    assert clean_name("a\x00b\nc.txt") == "abc.txt"
    assert clean_name("") == "plik" and clean_name(None) == "plik"
    assert len(clean_name("x" * 400 + ".pdf")) == 255
