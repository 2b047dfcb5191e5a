"""fee_reminders: the overdue fees the client was told of (one per contract month), open until paid

Revision ID: contracts_0006_fee_reminders
Revises: contracts_0005_payments
Create Date: 2026-11-29 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.common.db

revision: str = 'contracts_0006_fee_reminders'
down_revision: str | None = 'contracts_0005_payments'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'fee_reminders',
        sa.Column('contract_id', sa.Integer(), nullable=False),
        sa.Column('month', sa.Date(), nullable=False),
        sa.Column('client_id', sa.Integer(), nullable=False),
        sa.Column('outstanding', sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column('payment_due', sa.Date(), nullable=False),
        sa.Column('source', sa.String(length=10), nullable=False),
        sa.Column('state', sa.String(length=10), nullable=False),
        sa.Column('created_at', services.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('settled_at', services.common.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['contract_id'], ['contracts.id'], name=op.f('fk_fee_reminders_contract_id_contracts'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('contract_id', 'month', name=op.f('pk_fee_reminders')),
    )
    op.create_index(op.f('ix_fee_reminders_client_id'), 'fee_reminders', ['client_id'], unique=False)
    op.create_index(op.f('ix_fee_reminders_state'), 'fee_reminders', ['state'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_fee_reminders_state'), table_name='fee_reminders')
    op.drop_index(op.f('ix_fee_reminders_client_id'), table_name='fee_reminders')
    op.drop_table('fee_reminders')
