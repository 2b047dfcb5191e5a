"""E-mail as a client's mail program reads it: Polish subjects and names survive encoding and folding."""

from __future__ import annotations

from email import message_from_bytes, policy

from services.notifier.mailer import OutgoingMail, build_message


def test_long_polish_subject_and_names_survive_folding() -> None:
    subject = "Nowa sprawa: JPK_V7M — deklaracja i ewidencja VAT za miesiąc, zapłata VAT — termin 25.11.2026"
    mail = OutgoingMail("anna@biuro.example", "Anna Żółkiewska", subject, "Treść: zażółć gęślą jaźń")
    raw = build_message(mail, sender="Biuro Rachunkowe Łódź <biuro@example.com>").as_bytes()
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["Subject"] == subject
    assert parsed["To"].addresses[0].display_name == "Anna Żółkiewska"
    assert parsed["From"].addresses[0].display_name == "Biuro Rachunkowe Łódź"
    assert parsed.get_content().strip() == "Treść: zażółć gęślą jaźń"
