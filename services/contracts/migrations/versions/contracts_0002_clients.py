"""clients: contacts and accounts (in the client's document), announced_at for the one-time client.changed

Revision ID: contracts_0002_clients
Revises: contracts_0002_gdpr
Create Date: 2026-11-29 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.common.db

revision: str = 'contracts_0002_clients'
down_revision: str | None = 'contracts_0002_gdpr'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Recipients, accounts, the PPK institution and notices on/off live in `data` (the validated ClientIn, whose
    # new fields have defaults). NULL announced_at: the service emits client.changed for the client at start.
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('announced_at', services.common.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.drop_column('announced_at')
