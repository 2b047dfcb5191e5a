"""the client's tasks: cases.party (office | client), the duty a client task stands for, the client duties an office
case depends on, documents received (date, count) and the client's own confirmation

Revision ID: cases_0004_party
Revises: cases_0003_assign
Create Date: 2026-11-29 22:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.common.db

revision: str = 'cases_0004_party'
down_revision: str | None = 'cases_0003_assign'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Batch mode: SQLite rebuilds the table; every case made before this is the office's own.
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('party', sa.String(length=10), nullable=False, server_default='office'))
        batch_op.add_column(sa.Column('duty', sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column('depends_on', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('received_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('received_count', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('client_confirmed_at', services.common.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('client_confirmed_by', sa.String(length=320), nullable=True))
        batch_op.create_index('ix_cases_party_contract_period', ['party', 'contract_id', 'period'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_party_contract_period')
        for column in ('client_confirmed_by', 'client_confirmed_at', 'received_count', 'received_on', 'depends_on',
                       'duty', 'party'):
            batch_op.drop_column(column)
