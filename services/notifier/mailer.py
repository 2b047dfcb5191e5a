"""Outgoing e-mail: the MIME message, and SMTP over a few reused connections (aiosmtplib).

A reply is sorted into three outcomes: accepted (2xx), worth a retry (4xx, a dropped connection, a timeout),
or refused for good (5xx). Nothing else in the notifier imports aiosmtplib.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.utils import formataddr, formatdate, parseaddr
from functools import lru_cache
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


@lru_cache(maxsize=1024)
def _address_header(value: str) -> str:
    """`Name <address>` as a header value (the sender and Reply-To repeat: parsed once)."""
    name, address = parseaddr(value)
    return encode_address(name, address)


@lru_cache(maxsize=64)
def _domain(sender: str) -> str:
    address = parseaddr(sender)[1]
    return address.rpartition("@")[2] or "terminarz.local"


CRLF = "\r\n"
_ENCODED_WORD_BYTES = 45  # 60 base64 characters: an encoded word stays within RFC 2047's 75


def _one_line(text: str) -> str:
    """No CR or LF may reach a header (header injection); runs of whitespace become one space."""
    return " ".join(text.split())


def encode_header(text: str) -> str:
    """A header value: as is when ASCII, otherwise RFC 2047 base64 encoded words on folded lines. Each word
    holds whole characters and carries its own spaces, so a reader joins them back without losing any."""
    text = _one_line(text)
    if text.isascii():
        return text
    data = text.encode()
    words = []
    while data:
        cut = min(len(data), _ENCODED_WORD_BYTES)
        while cut < len(data) and data[cut] & 0xC0 == 0x80:  # never split a character's bytes
            cut -= 1
        words.append(f"=?utf-8?b?{base64.b64encode(data[:cut]).decode()}?=")
        data = data[cut:]
    return f"{CRLF} ".join(words)


def encode_address(name: str, address: str) -> str:
    name = _one_line(name)
    if not name:
        return address
    if name.isascii():
        return formataddr((name, address))
    return f"{encode_header(name)} <{address}>"


def _base64_body(data: bytes) -> str:
    return base64.encodebytes(data).decode("ascii").replace("\n", CRLF)


@dataclass(frozen=True)
class BuiltMessage:
    raw: str  # the whole message, ASCII, CRLF line ends
    message_id: str


def build_message(mail: OutgoingMail, *, sender: str) -> BuiltMessage:
    """The MIME message as text: plain text, or multipart/alternative of text and HTML (with the HTML's inline
    images in multipart/related); every part base64, headers RFC 2047 encoded. Written out directly rather
    than through the email package, which spends milliseconds a message folding headers (the morning reminder
    run builds thousands)."""
    message_id = f"<{uuid.uuid4().hex}@{_domain(sender)}>"
    headers = [
        f"From: {_address_header(sender)}",
        f"To: {encode_address(mail.to_name, mail.to_address)}",
        f"Subject: {encode_header(mail.subject)}",
        f"Message-ID: {message_id}",
        f"Date: {formatdate(localtime=False)}",
        "MIME-Version: 1.0",
    ]
    if mail.reply_to:
        headers.append(f"Reply-To: {_address_header(mail.reply_to)}")
    headers.extend(f"{_one_line(key)}: {encode_header(value)}" for key, value in mail.headers.items())
    text_part = ['Content-Type: text/plain; charset="utf-8"', "Content-Transfer-Encoding: base64", "",
                 _base64_body(mail.body.encode())]
    if mail.html is None:
        return BuiltMessage(CRLF.join([*headers, *text_part]), message_id)
    html_part = ['Content-Type: text/html; charset="utf-8"', "Content-Transfer-Encoding: base64", "",
                 _base64_body(mail.html.encode())]
    token = secrets.token_hex(12)  # "_" never occurs in base64, so no body can contain the boundary
    if mail.images:
        related = f"=_tz_r{token}"
        parts = [f'Content-Type: multipart/related; boundary="{related}"', "", f"--{related}", *html_part]
        for image in mail.images:
            parts += [f"--{related}", "Content-Type: image/png", "Content-Transfer-Encoding: base64",
                      f"Content-ID: <{image.cid}>",
                      f'Content-Disposition: inline; filename="{image.cid.split("@")[0]}.png"', "",
                      _base64_body(image.png)]
        parts.append(f"--{related}--")
        html_part = parts
    alternative = f"=_tz_a{token}"
    lines = [*headers, f'Content-Type: multipart/alternative; boundary="{alternative}"', "",
             f"--{alternative}", *text_part, f"--{alternative}", *html_part, f"--{alternative}--", ""]
    return BuiltMessage(CRLF.join(lines), message_id)


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
        self.envelope_sender = parseaddr(settings.mail_from)[1]

    @property
    def configured(self) -> bool:
        return bool(self.settings.smtp_host)

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.connections))
