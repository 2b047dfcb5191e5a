"""The installation's two secrets: made once and kept in the data folder embedded, required and checked distributed.

`secret_key` keys the hashes of web session ids (rotating it ends every session); `internal_token` is what the
services show each other (`X-Internal-Token`). Neither has a default: a constant in the code would be known to
everyone who reads it.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from pathlib import Path

from services.common.log import get_logger
from services.common.settings import Settings

log = get_logger(__name__)

SECRETS_FILE = "secrets.json"
MIN_LENGTH = 32
ENVIRONMENT = {"secret_key": "TERMINARZ_SECRET_KEY", "internal_token": "TERMINARZ_INTERNAL_TOKEN"}
# Values that were once defaults or examples (in the code or the compose file): known to anyone.
KNOWN_VALUES = frozenset({
    "terminarz-internal-dev-token", "terminarz-dev-secret-change-me", "change-me-in-production", "change-me-too",
    "change-me", "secret", "changeme",
})
HOW_TO_MAKE = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def weaknesses(settings: Settings) -> list[str]:
    """What is wrong with the secrets as set, one sentence each naming the variable; empty when they are fine."""
    found: list[str] = []
    for name, variable in ENVIRONMENT.items():
        value: str | None = getattr(settings, name)
        if not value:
            found.append(f"{variable} is not set")
        elif value.strip().lower() in KNOWN_VALUES:
            found.append(f"{variable} is a published example value")
        elif len(value) < MIN_LENGTH:
            found.append(f"{variable} is shorter than {MIN_LENGTH} characters")
    if settings.secret_key and settings.secret_key == settings.internal_token:
        found.append("TERMINARZ_SECRET_KEY and TERMINARZ_INTERNAL_TOKEN must differ")
    return found


def require_secrets(settings: Settings) -> None:
    """Distributed mode: refuse to start without strong secrets, saying which variable and how to make one."""
    found = weaknesses(settings)
    if found:
        raise SystemExit(
            "Terminarz will not start: " + "; ".join(found) + ". Set TERMINARZ_SECRET_KEY and "
            f"TERMINARZ_INTERNAL_TOKEN to different random values of at least {MIN_LENGTH} characters, the same "
            f"for every service of the installation (make one with: {HOW_TO_MAKE})."
        )


def ensure_secrets(settings: Settings) -> Settings:
    """Embedded mode: secrets from the environment if set, else from `<data_dir>/secrets.json`, made on first start.

    The file is readable by its owner only (0600) and reused on later starts, so sessions survive a restart.
    """
    missing = [name for name in ENVIRONMENT if not getattr(settings, name)]
    if missing:
        stored = _load_or_create(settings.data_dir / SECRETS_FILE, missing)
        settings = settings.model_copy(update={name: stored[name] for name in missing})
    require_secrets(settings)
    return settings


def _load_or_create(path: Path, names: list[str]) -> dict[str, str]:
    stored: dict[str, str] = {}
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning("secrets.file_too_open", path=str(path), mode=oct(mode), fixed_to="0o600")
            path.chmod(0o600)
        stored = json.loads(path.read_text(encoding="utf-8"))
    if all(stored.get(name) for name in names):
        return stored
    for name in names:
        stored.setdefault(name, new_secret())
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".new")
    partial.unlink(missing_ok=True)  # so the file below is created with mode 0600, not reused with another
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump(stored, file, indent=2)
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial, path)  # a crash never leaves half a file behind
    log.info("secrets.created", path=str(path), names=names)
    return stored
