"""Outgoing e-mail: SMTP when configured, otherwise the local outbox that the web UI shows."""

from __future__ import annotations

import asyncio
import smtplib
from dataclasses import dataclass
from email.header import Header
from email.message import Message
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, make_msgid, parseaddr

from services.common.settings import Settings


@dataclass(frozen=True)
class OutgoingMail:
    to_address: str
    to_name: str
    subject: str
    body: str


def build_message(mail: OutgoingMail, *, sender: str) -> Message:
    """A UTF-8 plain-text message. Headers are encoded with `Header`: the newer email policy folds long
    Polish subjects into encoded words that lose the spaces between them ("VATza")."""
    message = MIMEText(mail.body, "plain", "utf-8")
    sender_name, sender_address = parseaddr(sender)
    message["From"] = formataddr((sender_name, sender_address), charset="utf-8")
    message["To"] = formataddr((mail.to_name, mail.to_address), charset="utf-8")
    message["Subject"] = Header(mail.subject, "utf-8")  # type: ignore[assignment]  # typeshed: str only
    message["Message-ID"] = make_msgid(domain="terminarz.local")
    message["Date"] = formatdate(localtime=False)
    return message


class SmtpMailer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def configured(self) -> bool:
        return bool(self.settings.smtp_host)

    async def send(self, mail: OutgoingMail) -> str:
        """Send one message; returns its Message-ID. Raises on refusal so the dispatcher retries."""
        message = build_message(mail, sender=self.settings.mail_from)
        await asyncio.to_thread(self._send_sync, message)
        return str(message["Message-ID"])

    def _send_sync(self, message: Message) -> None:
        s = self.settings
        assert s.smtp_host is not None
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=30) as smtp:
            if s.smtp_starttls:
                smtp.starttls()
            if s.smtp_user:
                smtp.login(s.smtp_user, s.smtp_password or "")
            smtp.send_message(message)
