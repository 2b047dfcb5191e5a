"""payments: the client's payments of the office's fee and the months they pay

Revision ID: contracts_0005_payments
Revises: contracts_0004_powers
Create Date: 2026-11-29 22:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.common.db

revision: str = 'contracts_0005_payments'
down_revision: str | None = 'contracts_0004_powers'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'payments',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('paid_on', sa.Date(), nullable=False),
        sa.Column('amount', sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column('title', sa.String(length=500), nullable=False),
        sa.Column('counterparty_nip', sa.String(length=10), nullable=True),
        sa.Column('client_id', sa.Integer(), nullable=True),
        sa.Column('source', sa.String(length=20), nullable=False),
        sa.Column('batch', sa.String(length=36), nullable=True),
        sa.Column('recorded_by', sa.String(length=100), nullable=False),
        sa.Column('recorded_at', services.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['client_id'], ['clients.id'], name=op.f('fk_payments_client_id_clients'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_payments')),
    )
    op.create_index(op.f('ix_payments_client_id'), 'payments', ['client_id'], unique=False)
    op.create_index(op.f('ix_payments_batch'), 'payments', ['batch'], unique=False)
    op.create_table(
        'payment_months',
        sa.Column('payment_id', sa.Integer(), nullable=False),
        sa.Column('contract_id', sa.Integer(), nullable=False),
        sa.Column('month', sa.Date(), nullable=False),
        sa.Column('amount', sa.Numeric(precision=12, scale=2), nullable=False),
        sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], name=op.f('fk_payment_months_payment_id_payments'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['contract_id'], ['contracts.id'],
                                name=op.f('fk_payment_months_contract_id_contracts'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('payment_id', 'contract_id', 'month', name=op.f('pk_payment_months')),
    )


def downgrade() -> None:
    op.drop_table('payment_months')
    op.drop_index(op.f('ix_payments_batch'), table_name='payments')
    op.drop_index(op.f('ix_payments_client_id'), table_name='payments')
    op.drop_table('payments')
