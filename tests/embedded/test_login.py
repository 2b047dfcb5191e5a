"""Logging in: throttled per login and per address, audited, equal work for unknown logins, argon2id hashes."""

from __future__ import annotations

import hashlib
import os
from datetime import timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update

from services.gateway import passwords
from services.gateway.models import audit_log, users
from tests.embedded.conftest import Office
from tests.embedded.web import browser, log_in


async def _audit(office: Office, login: str) -> list[tuple[str, Any]]:
    async with office.system.gateway.ctx.db.reading() as session:
        rows = await session.execute(select(audit_log.c.action, audit_log.c.detail)
                                     .where(audit_log.c.login == login).order_by(audit_log.c.id))
        return [(r.action, r.detail) for r in rows]


async def _password_hash(office: Office, login: str) -> str:
    async with office.system.gateway.ctx.db.reading() as session:
        return str((await session.execute(select(users.c.password_hash).where(users.c.login == login))).scalar_one())


async def _set_password_hash(office: Office, login: str, password_hash: str) -> None:
    async with office.system.gateway.ctx.db.transaction() as session:
        await session.execute(update(users).where(users.c.login == login).values(password_hash=password_hash))


async def test_five_wrong_passwords_lock_the_login_for_a_while_and_everything_is_audited(office: Office) -> None:
    async with browser(office) as client, browser(office) as colleague:
        for _ in range(5):
            assert (await log_in(client, "anna", "wrong")).status_code == 401
        locked = await log_in(client, "anna")  # the right password, too late
        others = await log_in(colleague, "ola")  # other people log in as usual
        office.clock.advance(timedelta(minutes=15))
        later = await log_in(client, "anna")

    assert locked.status_code == 429
    assert 0 < int(locked.headers["Retry-After"]) <= 15 * 60
    assert "Zbyt wiele nieudanych prób logowania" in locked.text and "15 min" in locked.text
    assert others.status_code == 303
    assert later.status_code == 303 and later.headers["location"] == "/"
    trail = await _audit(office, "anna")
    assert [action for action, _ in trail] == ["login.failed"] * 6 + ["login"]
    assert [detail["reason"] for _, detail in trail[:6]] == ["password"] * 5 + ["throttled"]
    assert all(detail["address"] == "127.0.0.1" for _, detail in trail)


async def test_many_failures_from_one_address_lock_that_address_only(office: Office) -> None:
    async with browser(office, address="203.0.113.7") as spraying:
        for n in range(20):  # a different name each time: no single login reaches its own limit
            assert (await log_in(spraying, f"guess{n}", "123456")).status_code == 401
        refused = await log_in(spraying, "admin")
    async with browser(office, address="198.51.100.1") as colleague:
        allowed = await log_in(colleague, "admin")
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert allowed.status_code == 303


async def test_unknown_login_costs_the_same_password_verification_as_a_known_one(
    office: Office, monkeypatch: pytest.MonkeyPatch
) -> None:
    verified: list[str] = []

    class CountingHasher(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> bool:
            verified.append(str(hash).split("$")[3])  # the parameters, e.g. m=19456,t=2,p=1
            return super().verify(hash, password)

    hasher = passwords.HASHER
    monkeypatch.setattr(passwords, "HASHER", CountingHasher(time_cost=hasher.time_cost,
                                                            memory_cost=hasher.memory_cost,
                                                            parallelism=hasher.parallelism))
    async with office.system.gateway.ctx.db.transaction() as session:
        await session.execute(update(users).where(users.c.login == "piotr").values(password_hash=None))  # API only
    work = {}
    async with browser(office) as client:
        for login in ("anna", "nobody", "piotr"):
            verified.clear()
            assert (await log_in(client, login, "wrong")).status_code == 401
            work[login] = list(verified)
    assert work["nobody"] == work["anna"] == work["piotr"] == [work["anna"][0]]  # one verification, same cost


async def test_new_passwords_are_argon2id_and_old_hashes_are_replaced_at_the_next_login(office: Office) -> None:
    assert (await _password_hash(office, "admin")).startswith("$argon2id$")

    salt = os.urandom(16)  # how passwords were stored before: scrypt N=2^14, r=8, p=1
    digest = hashlib.scrypt(b"secret-anna", salt=salt, n=2**14, r=8, p=1)
    await _set_password_hash(office, "anna", f"scrypt${salt.hex()}${digest.hex()}")
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash("secret-ola")
    await _set_password_hash(office, "ola", weak)  # argon2id, but cheaper than ours

    for login in ("anna", "ola"):
        async with browser(office) as client:
            assert (await log_in(client, login)).status_code == 303
        stored = await _password_hash(office, login)
        assert stored.startswith("$argon2id$") and not passwords.needs_rehash(stored)
        assert (await _audit(office, login))[-1] == ("login", {"address": "127.0.0.1", "rehashed": True})
        async with browser(office) as client:
            assert (await log_in(client, login)).status_code == 303  # the new hash holds the same password
            assert (await log_in(client, login, "wrong")).status_code == 401
