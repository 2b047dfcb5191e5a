"""billing_inputs: the month's documents booked and employees paid per contract, for the fee

Revision ID: contracts_0003_billing
Revises: contracts_0002_clients
Create Date: 2026-11-29 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.common.db

revision: str = 'contracts_0003_billing'
down_revision: str | None = 'contracts_0002_clients'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'billing_inputs',
        sa.Column('contract_id', sa.Integer(), nullable=False),
        sa.Column('month', sa.Date(), nullable=False),
        sa.Column('documents', sa.Integer(), nullable=True),
        sa.Column('employees', sa.Integer(), nullable=True),
        sa.Column('recorded_by', sa.String(length=100), nullable=False),
        sa.Column('recorded_at', services.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('source', sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(['contract_id'], ['contracts.id'], name=op.f('fk_billing_inputs_contract_id_contracts'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('contract_id', 'month', name=op.f('pk_billing_inputs')),
    )


def downgrade() -> None:
    op.drop_table('billing_inputs')
