"""powers: the client's powers of attorney (UPL-1, PEL, KRS, other) with their document

Revision ID: contracts_0004_powers
Revises: contracts_0003_billing
Create Date: 2026-11-29 22:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.common.db

revision: str = 'contracts_0004_powers'
down_revision: str | None = 'contracts_0003_billing'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'powers',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('client_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('granted_on', sa.Date(), nullable=False),
        sa.Column('valid_until', sa.Date(), nullable=True),
        sa.Column('scope', sa.Text(), nullable=False),
        sa.Column('document_id', sa.String(length=36), nullable=True),
        sa.Column('document_name', sa.String(length=255), nullable=True),
        sa.Column('document_type', sa.String(length=100), nullable=True),
        sa.Column('document_size', sa.Integer(), nullable=True),
        sa.Column('document_sha256', sa.String(length=64), nullable=True),
        sa.Column('created_by', sa.String(length=100), nullable=False),
        sa.Column('created_at', services.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('revoked_on', sa.Date(), nullable=True),
        sa.Column('revoked_by', sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(['client_id'], ['clients.id'], name=op.f('fk_powers_client_id_clients'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_powers')),
    )
    op.create_index(op.f('ix_powers_client_id'), 'powers', ['client_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_powers_client_id'), table_name='powers')
    op.drop_table('powers')
