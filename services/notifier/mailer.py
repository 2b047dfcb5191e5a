"""Outgoing e-mail: the MIME message, and SMTP over a few reused connections (aiosmtplib).

A reply is sorted into three outcomes: accepted (2xx), worth a retry (4xx, a dropped connection, a timeout),
or refused for good (5xx). Nothing else in the notifier imports aiosmtplib.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.header import Header
from email.message import Message
from email.mime.image import MIMEImage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from typing import Literal

import aiosmtplib

from services.common.settings import Settings


@dataclass(frozen=True)
class InlineImage:
    cid: str  # referenced from the HTML as `cid:<cid>`
    png: bytes


@dataclass(frozen=True)
class OutgoingMail:
    to_address: str
    to_name: str
    subject: str
    body: str
    html: str | None = None
    images: Sequence[InlineImage] = ()
    reply_to: str | None = None  # "Name <address>" or an address
    headers: dict[str, str] = field(default_factory=dict)


def _domain(sender: str) -> str:
    address = parseaddr(sender)[1]
    return address.rpartition("@")[2] or "terminarz.local"


def build_message(mail: OutgoingMail, *, sender: str) -> Message:
    """Plain text, or multipart/alternative of text and HTML (with its inline images as multipart/related).

    Headers are encoded with `Header`: the newer email policy folds long Polish subjects into encoded words
    that lose the spaces between them ("VATza")."""
    text = MIMEText(mail.body, "plain", "utf-8")
    message: Message
    if mail.html is None:
        message = text
    else:
        html: Message = MIMEText(mail.html, "html", "utf-8")
        if mail.images:
            related = MIMEMultipart("related")
            related.attach(html)
            for image in mail.images:
                part = MIMEImage(image.png, "png")
                part["Content-ID"] = f"<{image.cid}>"
                part.add_header("Content-Disposition", "inline", filename=f"{image.cid.split('@')[0]}.png")
                related.attach(part)
            html = related
        message = MIMEMultipart("alternative")
        message.attach(text)
        message.attach(html)
    sender_name, sender_address = parseaddr(sender)
    message["From"] = formataddr((sender_name, sender_address), charset="utf-8")
    message["To"] = formataddr((mail.to_name, mail.to_address), charset="utf-8")
    message["Subject"] = Header(mail.subject, "utf-8")  # type: ignore[assignment]  # typeshed: str only
    message["Message-ID"] = make_msgid(domain=_domain(sender))
    message["Date"] = formatdate(localtime=False)
    if mail.reply_to:
        name, address = parseaddr(mail.reply_to)
        message["Reply-To"] = formataddr((name, address), charset="utf-8")
    for key, value in mail.headers.items():
        message[key] = value
    return message


Outcome = Literal["sent", "retry", "refused"]


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    reply: str  # the server's reply ("250 2.0.0 Ok: queued as …") or what went wrong


def classify(exc: BaseException) -> SendResult:
    """A 5xx reply is a refusal for good; a 4xx reply, a dropped or refused connection or a timeout is retried."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        first = exc.recipients[0]
        return SendResult("refused" if first.code >= 500 else "retry", f"{first.code} {first.message}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return SendResult("refused" if exc.code >= 500 else "retry", f"{exc.code} {exc.message}")
    return SendResult("retry", f"{type(exc).__name__}: {exc}")


class SmtpConnection:
    """One SMTP session, opened on first use and reopened after a connection-level failure."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._smtp: aiosmtplib.SMTP | None = None

    async def _connected(self) -> aiosmtplib.SMTP:
        if self._smtp is not None and self._smtp.is_connected:
            return self._smtp
        s = self.settings
        assert s.smtp_host is not None
        smtp = aiosmtplib.SMTP(hostname=s.smtp_host, port=s.smtp_port, use_tls=s.smtp_tls,
                               start_tls=s.smtp_starttls, timeout=s.smtp_timeout)
        await smtp.connect()
        if s.smtp_user:
            await smtp.login(s.smtp_user, s.smtp_password or "")
        self._smtp = smtp
        return smtp

    async def send(self, sender: str, recipient: str, raw: str) -> SendResult:
        try:
            smtp = await self._connected()
            errors, reply = await smtp.sendmail(sender, [recipient], raw)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            result = classify(exc)
            if not isinstance(exc, aiosmtplib.SMTPResponseException):
                await self.close()  # the connection is in an unknown state: start the next mail afresh
            return result
        if recipient in errors:  # pragma: no cover - one recipient refused raises SMTPRecipientsRefused instead
            code, message = errors[recipient]
            return SendResult("refused" if code >= 500 else "retry", f"{code} {message}")
        return SendResult("sent", f"250 {reply}".strip())

    async def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            if smtp.is_connected:
                await asyncio.wait_for(smtp.quit(), timeout=5)
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            smtp.close()


class SmtpMailer:
    """The configured SMTP server, reached over up to `smtp_connections` reused connections."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.connections = [SmtpConnection(settings) for _ in range(settings.smtp_connections)]

    @property
    def configured(self) -> bool:
        return bool(self.settings.smtp_host)

    @property
    def envelope_sender(self) -> str:
        return parseaddr(self.settings.mail_from)[1]

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.connections))
