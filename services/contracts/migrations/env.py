"""Alembic environment of the contracts service."""

from services.contracts.models import metadata
from services.common.migrate import run_env

run_env(metadata)
