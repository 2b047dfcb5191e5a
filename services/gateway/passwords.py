"""Password hashing: argon2id (argon2-cffi) for new hashes, the old scrypt hashes still verified until rehashed.

Nothing else imports argon2. Verifying costs the same whether or not the login exists (`verify_nothing`), so the
answer's timing does not tell who has an account.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# OWASP's argon2id recommendation (19 MiB, 2 iterations, 1 lane). Raising these makes `needs_rehash` true for
# every stored hash, which is then replaced at the user's next login.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Hashes made before argon2id: "scrypt$<salt hex>$<digest hex>", N=2^14, r=8, p=1.
_SCRYPT_PREFIX = "scrypt$"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def verify_password(password: str, stored: str | None) -> bool:
    """True when the password matches the stored hash (argon2id or the old scrypt)."""
    if not stored:
        verify_nothing(password)
        return False
    if stored.startswith(_SCRYPT_PREFIX):
        return _verify_scrypt(password, stored)
    try:
        return HASHER.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """An old scrypt hash, or argon2id with other parameters than ours: replace it at the next login."""
    return stored.startswith(_SCRYPT_PREFIX) or HASHER.check_needs_rehash(stored)


def verify_nothing(password: str) -> None:
    """The work of one verification, for a login that does not exist or has no password."""
    try:
        HASHER.verify(_dummy_hash(), password)
    except VerificationError:
        pass


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return HASHER.hash("no such user: this hash is only verified to spend the same time")


def _verify_scrypt(password: str, stored: str) -> bool:
    try:
        _, salt_hex, digest_hex = stored.split("$")
        digest = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt_hex), **_SCRYPT)
    except ValueError:
        return False
    return hmac.compare_digest(digest.hex(), digest_hex)
