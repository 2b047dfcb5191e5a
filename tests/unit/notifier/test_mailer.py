"""E-mail as a client's mail program reads it: Polish subjects and names survive encoding and folding; the
text, the HTML and its inline images arrive as the parts a mail program expects."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

from services.notifier.mailer import InlineImage, OutgoingMail, build_message
from services.notifier.qr import qr_png


def parsed(raw: str) -> EmailMessage:
    message = message_from_bytes(raw.encode("ascii"), policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_long_polish_subject_and_names_survive_folding() -> None:
    subject = "Nowa sprawa: JPK_V7M — deklaracja i ewidencja VAT za miesiąc, zapłata VAT — termin 25.11.2026"
    mail = OutgoingMail("anna@biuro.example", "Anna Żółkiewska", subject, "Treść: zażółć gęślą jaźń")
    built = build_message(mail, sender="Biuro Rachunkowe Łódź <biuro@example.com>")
    assert all(len(line) <= 998 for line in built.raw.split("\r\n"))
    message = parsed(built.raw)
    assert message["Subject"] == subject
    assert message["To"].addresses[0].display_name == "Anna Żółkiewska"
    assert message["From"].addresses[0].display_name == "Biuro Rachunkowe Łódź"
    assert message["Message-ID"] == built.message_id and built.message_id.endswith("@example.com>")
    assert message.get_content().strip() == "Treść: zażółć gęślą jaźń"


def test_text_html_and_inline_images_in_one_message() -> None:
    png = qr_png("|PL|88101000712222123456321800|123456|Urząd Skarbowy|N1234563218 26M10 VAT-7|||")
    mail = OutgoingMail("jan@kowalski.example", 'Jan "Kowal" Kowalski', "Rozliczenie", "Tekst",
                        html='<p>Zapłać <img src="cid:qr0@terminarz"></p>', images=[InlineImage("qr0@terminarz", png)],
                        reply_to="Anna Nowak <anna@biuro.example>", headers={"X-Terminarz-Notice": "n-1"})
    message = parsed(build_message(mail, sender="Biuro <biuro@example.com>").raw)
    assert message.get_content_type() == "multipart/alternative"
    text, related = message.iter_parts()
    assert text.get_content() == "Tekst\n" or text.get_content() == "Tekst"
    html, image = related.iter_parts()
    assert html.get_content_type() == "text/html" and 'cid:qr0@terminarz' in html.get_content()
    assert image["Content-ID"] == "<qr0@terminarz>" and image.get_content() == png
    assert message["To"].addresses[0].display_name == 'Jan "Kowal" Kowalski'
    assert message["Reply-To"].addresses[0].addr_spec == "anna@biuro.example"
    assert message["X-Terminarz-Notice"] == "n-1"


def test_no_header_injection_through_a_name_or_subject() -> None:
    mail = OutgoingMail("a@b.example", "Eve\r\nBcc: all@x.example", "Hi\r\nBcc: all@x.example", "x")
    message = parsed(build_message(mail, sender="Biuro <biuro@example.com>").raw)
    assert message["Bcc"] is None and message["Subject"] == "Hi Bcc: all@x.example"
