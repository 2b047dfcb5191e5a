"""`terminarz doctor`: checks a deployment's settings, connections, migrations and rules, and says what to fix."""

from __future__ import annotations

import asyncio
import os
import smtplib
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import httpx

from services.common import keys
from services.common.migrate import current_revision, known_revisions
from services.common.settings import SERVICES, Settings

Status = Literal["ok", "warn", "fail"]
TIMEOUT = 5.0
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}


@dataclass(frozen=True)
class Finding:
    status: Status
    area: str
    detail: str
    fix: str = ""


def _secrets(findings: list[Finding], settings: Settings) -> None:
    """The two secrets, judged as the services judge them at start (`services.common.keys`)."""
    fix = (f"set TERMINARZ_SECRET_KEY and TERMINARZ_INTERNAL_TOKEN to different random values of at least "
           f"{keys.MIN_LENGTH} characters, the same for every service: {keys.HOW_TO_MAKE}")
    stored = settings.data_dir / keys.SECRETS_FILE
    if settings.mode == "embedded":
        unset = [v for n, v in keys.ENVIRONMENT.items() if not getattr(settings, n)]
        if unset:
            where = f"kept in {stored}" if stored.exists() else f"made in {stored} on the first start"
            findings.append(Finding("ok", "settings", f"{' and '.join(unset)} not set: {where}"))
            settings = settings.model_copy(update={n: "x" * keys.MIN_LENGTH + n for n in keys.ENVIRONMENT
                                                   if not getattr(settings, n)})
    problems = keys.weaknesses(settings)
    status: Status = "fail" if settings.mode == "distributed" else "warn"
    for problem in problems:
        findings.append(Finding(status, "settings", problem, fix))
    if not problems:
        findings.append(Finding("ok", "settings", "TERMINARZ_SECRET_KEY and TERMINARZ_INTERNAL_TOKEN are set"))


def _public_url(findings: list[Finding], settings: Settings) -> None:
    url = settings.public_url
    parts = urlsplit(url)
    fix = "set TERMINARZ_PUBLIC_URL to the address the office and clients open, e.g. https://terminarz.example.com"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        findings.append(Finding("fail", "settings", f"TERMINARZ_PUBLIC_URL {url!r} is not an http(s) address", fix))
        return
    if url.endswith("/") or parts.query or parts.fragment:
        findings.append(Finding("warn", "settings", f"TERMINARZ_PUBLIC_URL {url!r} ends in '/' or has a query: "
                                                    "links in e-mails are made by appending paths to it",
                                "drop the trailing '/' and anything after '?' or '#'"))
        return
    local = parts.hostname in LOCAL_HOSTS
    if settings.mode == "distributed" and local:
        findings.append(Finding("warn", "settings", f"TERMINARZ_PUBLIC_URL {url!r} points at this machine: links "
                                                    "in e-mails would not open anywhere else", fix))
    elif parts.scheme == "http" and not local:
        findings.append(Finding("warn", "settings", f"TERMINARZ_PUBLIC_URL {url!r} is plain http: logins and "
                                                    "confirmation links travel unencrypted",
                                "serve Terminarz over https (a reverse proxy or the Ingress's TLS) and use https://"))
    else:
        findings.append(Finding("ok", "settings", f"public URL {url}"))


def check_settings(settings: Settings) -> list[Finding]:
    findings = [Finding("ok", "settings", f"{settings.mode} mode")]
    if settings.mode == "distributed":
        for name, example in (("database_url", "postgresql+asyncpg://USER:PASSWORD@HOST:5432/terminarz"),
                              ("amqp_url", "amqp://USER:PASSWORD@HOST:5672/")):
            env = f"TERMINARZ_{name.upper()}"
            if not getattr(settings, name):
                findings.append(Finding("fail", "settings", f"{env} is not set", f"set {env}={example}"))
        if settings.database_url and not settings.database_url.startswith("postgresql+asyncpg://"):
            findings.append(Finding("fail", "settings", "TERMINARZ_DATABASE_URL is not a postgresql+asyncpg:// URL",
                                    "write it as postgresql+asyncpg://USER:PASSWORD@HOST:5432/terminarz"))
    _secrets(findings, settings)
    _public_url(findings, settings)
    if settings.mode == "distributed":
        for service in SERVICES:
            if service == "gateway":
                continue
            parts = urlsplit(settings.service_url(service))
            if parts.scheme not in ("http", "https") or not parts.hostname:
                env = f"TERMINARZ_{service.upper()}_URL"
                findings.append(Finding("fail", "settings", f"{env} {settings.service_url(service)!r} is not an "
                                                            "http(s) address", f"set {env}=http://{service}:PORT"))
    name, address = parseaddr(settings.mail_from)
    if "@" not in address:
        findings.append(Finding("fail", "settings", f"TERMINARZ_MAIL_FROM {settings.mail_from!r} has no address",
                                "set TERMINARZ_MAIL_FROM='Biuro <terminarz@example.com>'"))
    return findings


def _smtp_probe(settings: Settings) -> str:
    assert settings.smtp_host is not None
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT) as smtp:
        smtp.ehlo()
        done = []
        if settings.smtp_starttls:
            smtp.starttls()
            smtp.ehlo()
            done.append("STARTTLS")
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password or "")
            done.append("login")
        return ", ".join(done)


async def check_smtp(settings: Settings) -> list[Finding]:
    if not settings.smtp_host:
        if settings.mode == "distributed":
            return [Finding("warn", "smtp", "TERMINARZ_SMTP_HOST is not set: mail stays in the notifier's local "
                                            "outbox and nobody receives it",
                            "set TERMINARZ_SMTP_HOST (and _PORT, _STARTTLS, _USER, _PASSWORD as your server wants)")]
        return [Finding("ok", "smtp", "no SMTP server: mail is kept in the local outbox the web UI shows")]
    where = f"{settings.smtp_host}:{settings.smtp_port}"
    try:
        done = await asyncio.to_thread(_smtp_probe, settings)
    except smtplib.SMTPAuthenticationError as exc:
        return [Finding("fail", "smtp", f"{where} refused the login: {exc.smtp_code} {exc.smtp_error!r}",
                        "check TERMINARZ_SMTP_USER and TERMINARZ_SMTP_PASSWORD")]
    except (OSError, smtplib.SMTPException) as exc:
        return [Finding("fail", "smtp", f"cannot talk to {where}: {exc!r}",
                        "check TERMINARZ_SMTP_HOST, _PORT and _STARTTLS, and that this machine may reach it")]
    return [Finding("ok", "smtp", f"{where} answers" + (f" ({done} ok)" if done else ""))]


async def check_broker(settings: Settings) -> list[Finding]:
    if settings.mode != "distributed" or not settings.amqp_url:
        return []
    import aio_pika

    where = urlsplit(settings.amqp_url)
    shown = f"{where.hostname}:{where.port or 5672}{where.path}"
    try:
        connection = await asyncio.wait_for(aio_pika.connect(settings.amqp_url, timeout=TIMEOUT), TIMEOUT * 2)
        await connection.close()
    except Exception as exc:
        return [Finding("fail", "broker", f"cannot connect to RabbitMQ at {shown}: {exc!r}",
                        "check TERMINARZ_AMQP_URL (user, password, virtual host) and that RabbitMQ runs")]
    return [Finding("ok", "broker", f"RabbitMQ at {shown} accepts the connection")]


async def _database_exists(url: str) -> bool:
    if url.startswith("sqlite"):
        return await asyncio.to_thread(os.path.exists, url.split("///", 1)[1])
    import asyncpg

    base, _, name = url.replace("postgresql+asyncpg", "postgresql").rpartition("/")
    admin = await asyncio.wait_for(asyncpg.connect(f"{base}/postgres", timeout=TIMEOUT), TIMEOUT * 2)
    try:
        return bool(await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name.split("?")[0]))
    finally:
        await admin.close()


async def check_databases(settings: Settings) -> list[Finding]:
    """Each service's database: reachable, and at the schema revision this code expects."""
    if settings.mode == "distributed" and not settings.database_url:
        return []
    findings = []
    embedded = settings.mode == "embedded"
    upgrade = "terminarz db upgrade" + (" (terminarz run does it at start)" if embedded else
                                        " (the migration Job in Kubernetes)")
    for service in SERVICES:
        url = settings.database_url_for(service)
        name = Path(url.split("///", 1)[1]).name if embedded else url.rpartition("/")[2]
        try:
            if not await _database_exists(url):
                findings.append(Finding("warn" if embedded else "fail", "database",
                                        f"{service}: database {name} does not exist yet", f"run {upgrade}"))
                continue
            revision = await asyncio.wait_for(current_revision(url), TIMEOUT * 2)
        except Exception as exc:
            findings.append(Finding("fail", "database", f"{service}: cannot reach database {name}: {exc!r}",
                                    "check TERMINARZ_DATABASE_URL and that PostgreSQL runs and accepts this user"
                                    if not embedded else f"check that {settings.data_dir} is readable"))
            continue
        known, head = known_revisions(service)
        if revision == head:
            findings.append(Finding("ok", "migrations", f"{service}: schema {revision} (current)"))
        elif revision is None:
            findings.append(Finding("warn" if embedded else "fail", "migrations",
                                    f"{service}: database {name} has no schema yet", f"run {upgrade}"))
        elif revision not in known:
            findings.append(Finding("fail", "migrations", f"{service}: schema {revision} is newer than this "
                                                          f"Terminarz knows (its newest is {head})",
                                    "run the Terminarz version that migrated it (or a newer one)"))
        else:
            findings.append(Finding("warn" if embedded else "fail", "migrations",
                                    f"{service}: schema {revision} is behind {head}", f"run {upgrade}"))
    return findings


def check_rules(settings: Settings) -> list[Finding]:
    from services.scheduler.domain import RuleSetError
    from services.scheduler.rulefiles import load_ruleset

    try:
        ruleset = load_ruleset(settings.rules_dir)
    except RuleSetError as error:
        shown = "; ".join(str(p) for p in error.problems[:3])
        more = f" (and {len(error.problems) - 3} more)" if len(error.problems) > 3 else ""
        return [Finding("fail", "rules", f"{len(error.problems)} problem(s) in {settings.rules_dir}: {shown}{more}",
                        f"fix the files (terminarz rules check {settings.rules_dir} lists every problem) or point "
                        "TERMINARZ_RULES_DIR at the office's rules; the scheduler keeps the last good set meanwhile")]
    return [Finding("ok", "rules", f"{len(ruleset.rules)} rules in {len(ruleset.files)} files in "
                                   f"{settings.rules_dir} (version {ruleset.version})")]


async def check_services(settings: Settings) -> list[Finding]:
    """Distributed: can this machine reach the other services where the gateway looks for them?"""
    if settings.mode != "distributed":
        return []
    findings = []
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        for service in SERVICES:
            if service == "gateway":
                continue
            url = settings.service_url(service)
            try:
                response = await client.get(f"{url}/readyz")
                ready = response.status_code == 200
                detail = response.json().get("checks", {}) if not ready else {}
            except (httpx.HTTPError, ValueError) as exc:
                findings.append(Finding("warn", "services", f"{service} does not answer at {url}: {exc!r}",
                                        f"start it, or fix TERMINARZ_{service.upper()}_URL (the gateway uses it)"))
                continue
            if ready:
                findings.append(Finding("ok", "services", f"{service} is ready at {url}"))
            else:
                findings.append(Finding("warn", "services", f"{service} at {url} is not ready: {detail}",
                                        "see the service's log; /readyz names what it cannot reach"))
    return findings


def check_backups(settings: Settings) -> list[Finding]:
    if settings.mode != "embedded" or settings.backup_keep <= 0:
        return []
    directory = settings.backup_dir.resolve()
    existing = next((p for p in (directory, *directory.parents) if p.exists()), None)
    if existing is None or not existing.is_dir():
        return [Finding("fail", "backups", f"daily backups go to {directory}, which cannot be created",
                        "set TERMINARZ_BACKUP_DIR to a folder Terminarz may write")]
    return [Finding("ok", "backups", f"a backup a day into {directory}, the newest {settings.backup_keep} kept")]


async def diagnose(settings: Settings) -> list[Finding]:
    findings = check_settings(settings)
    findings += await check_smtp(settings)
    findings += await check_broker(settings)
    findings += await check_databases(settings)
    findings += await asyncio.to_thread(check_rules, settings)
    findings += await check_services(settings)
    findings += check_backups(settings)
    return findings


def render(findings: list[Finding]) -> str:
    marks = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}
    lines = []
    for f in findings:
        lines.append(f"{marks[f.status]}  {f.area:<10}  {f.detail}")
        if f.fix and f.status != "ok":
            lines.append(f"{'':18}fix: {f.fix}")
    failed = sum(f.status == "fail" for f in findings)
    warned = sum(f.status == "warn" for f in findings)
    if failed or warned:
        lines.append(f"\n{failed} problem(s) to fix, {warned} warning(s).")
    else:
        lines.append("\nEverything checked is in order.")
    return "\n".join(lines)
