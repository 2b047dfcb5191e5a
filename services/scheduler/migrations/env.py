"""Alembic environment of the scheduler service."""

from services.scheduler.models import metadata
from services.common.migrate import run_env

run_env(metadata)
