"""Alembic environment of the notifier service."""

from services.common.migrate import run_env
from services.notifier.models import metadata

run_env(metadata)
