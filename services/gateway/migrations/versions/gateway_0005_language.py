"""each user's UI language: users.language ("pl" or "en", default "pl")

Revision ID: gateway_0005_language
Revises: gateway_0004_feed
Create Date: 2026-11-29 22:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'gateway_0005_language'
down_revision: str | None = 'gateway_0004_feed'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('language', sa.String(length=5), nullable=False, server_default='pl'))


def downgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.drop_column('language')
