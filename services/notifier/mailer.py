"""Outgoing e-mail: SMTP when configured, otherwise the local outbox that the web UI shows."""

from __future__ import annotations

import asyncio
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid

from services.common.settings import Settings


@dataclass(frozen=True)
class OutgoingMail:
    to_address: str
    to_name: str
    subject: str
    body: str


class SmtpMailer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def configured(self) -> bool:
        return bool(self.settings.smtp_host)

    async def send(self, mail: OutgoingMail) -> str:
        """Send one message; returns its Message-ID. Raises on refusal so the dispatcher retries."""
        message = EmailMessage()
        message["From"] = self.settings.mail_from
        message["To"] = f"{mail.to_name} <{mail.to_address}>" if mail.to_name else mail.to_address
        message["Subject"] = mail.subject
        message["Message-ID"] = make_msgid(domain="terminarz.local")
        message.set_content(mail.body)
        await asyncio.to_thread(self._send_sync, message)
        return str(message["Message-ID"])

    def _send_sync(self, message: EmailMessage) -> None:
        s = self.settings
        assert s.smtp_host is not None
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=30) as smtp:
            if s.smtp_starttls:
                smtp.starttls()
            if s.smtp_user:
                smtp.login(s.smtp_user, s.smtp_password or "")
            smtp.send_message(message)
