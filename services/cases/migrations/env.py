"""Alembic environment of the cases service."""

from services.cases.models import metadata
from services.common.migrate import run_env

run_env(metadata)
