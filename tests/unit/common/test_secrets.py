"""The installation's secrets: none built in; made once in the data folder embedded; required distributed."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from services.common.keys import SECRETS_FILE, new_secret, require_secrets
from services.common.settings import Settings
from services.system import EmbeddedSystem
from tests.conftest import ROOT, free_port

OLD_DEFAULTS = ("terminarz-dev-secret-change-me", "terminarz-internal-dev-token")


@pytest.fixture(autouse=True)
def no_secrets_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("TERMINARZ_SECRET_KEY", "TERMINARZ_INTERNAL_TOKEN"):
        monkeypatch.delenv(variable, raising=False)


def test_settings_carry_no_built_in_secrets() -> None:
    settings = Settings()
    assert settings.secret_key is None and settings.internal_token is None


def test_embedded_system_makes_its_secrets_on_first_start_and_reuses_them(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    first = EmbeddedSystem(settings).settings
    path = tmp_path / "data" / SECRETS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # readable by its owner only
    assert first.secret_key and first.internal_token and first.secret_key != first.internal_token
    assert len(first.secret_key) >= 32 and not {first.secret_key, first.internal_token} & set(OLD_DEFAULTS)
    again = EmbeddedSystem(settings).settings
    assert (again.secret_key, again.internal_token) == (first.secret_key, first.internal_token)
    elsewhere = EmbeddedSystem(Settings(data_dir=tmp_path / "other")).settings
    assert elsewhere.secret_key != first.secret_key  # each installation its own


def test_embedded_secrets_from_the_environment_win_over_the_file(tmp_path: Path) -> None:
    key, token = new_secret(), new_secret()
    settings = EmbeddedSystem(Settings(data_dir=tmp_path, secret_key=key, internal_token=token)).settings
    assert (settings.secret_key, settings.internal_token) == (key, token)
    assert not (tmp_path / SECRETS_FILE).exists()


@pytest.mark.parametrize(("secret_key", "internal_token", "named"), [
    (None, None, ["TERMINARZ_SECRET_KEY is not set", "TERMINARZ_INTERNAL_TOKEN is not set"]),
    (OLD_DEFAULTS[0], new_secret(), ["TERMINARZ_SECRET_KEY is a published example value"]),
    (new_secret(), "change-me-too", ["TERMINARZ_INTERNAL_TOKEN is a published example value"]),
    (new_secret(), "short-token", ["TERMINARZ_INTERNAL_TOKEN is shorter than 32 characters"]),
    ("x" * 40, "x" * 40, ["must differ"]),
])
def test_distributed_mode_refuses_missing_or_weak_secrets(secret_key: str | None, internal_token: str | None,
                                                          named: list[str]) -> None:
    settings = Settings(mode="distributed", secret_key=secret_key, internal_token=internal_token)
    with pytest.raises(SystemExit) as refused:
        require_secrets(settings)
    for words in named:
        assert words in str(refused.value.code)


def test_serve_refuses_to_start_without_secrets_and_says_which() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TERMINARZ_")}
    env.update(TERMINARZ_MODE="distributed", TERMINARZ_AMQP_URL=f"amqp://guest:guest@127.0.0.1:{free_port()}/",
               TERMINARZ_DATABASE_URL=f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/terminarz")
    result = subprocess.run([sys.executable, "-m", "services.cli", "serve", "contracts", "--port", str(free_port())],
                            env=env, cwd=ROOT, capture_output=True, timeout=120, text=True)
    assert result.returncode != 0
    assert "TERMINARZ_SECRET_KEY is not set" in result.stderr
    assert "TERMINARZ_INTERNAL_TOKEN is not set" in result.stderr


def test_compose_file_requires_the_secrets_and_has_no_fallbacks() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text(encoding="utf-8"))
    environment = compose["x-terminarz"]["environment"]
    for variable in ("TERMINARZ_SECRET_KEY", "TERMINARZ_INTERNAL_TOKEN"):
        # ${VAR:?message}: compose stops with the message when the variable is unset or empty.
        assert re.fullmatch(r"\$\{" + variable + r":\?[^}]+\}", environment[variable]), environment[variable]
