"""Alembic environment of the scheduler service."""

from services.common.migrate import run_env
from services.scheduler.models import metadata

run_env(metadata)
