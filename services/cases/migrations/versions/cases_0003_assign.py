"""who works a case: substitutes on cases, absences, contract teams by version, pending team changes

Revision ID: cases_0003_assign
Revises: cases_0003_life
Create Date: 2026-11-29 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.common.db

revision: str = 'cases_0003_assign'
down_revision: str | None = 'cases_0003_life'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('substitute_login', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('substitute_name', sa.String(length=200), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('absence_id', sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f('ix_cases_substitute_login'), ['substitute_login'], unique=False)

    op.create_table('absences',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('login', sa.String(length=100), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('substitute_login', sa.String(length=100), nullable=True),
    sa.Column('substitute_name', sa.String(length=200), nullable=False),
    sa.Column('substitute_email', sa.String(length=320), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('cancelled', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', services.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', services.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_absences'))
    )
    with op.batch_alter_table('absences', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_absences_login'), ['login'], unique=False)
        batch_op.create_index(batch_op.f('ix_absences_substitute_login'), ['substitute_login'], unique=False)

    op.create_table('contract_teams',
    sa.Column('contract_id', sa.String(length=36), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('team', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('contract_id', 'version', name=op.f('pk_contract_teams'))
    )
    op.create_table('team_changes',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('contract_id', sa.String(length=36), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('role', sa.String(length=30), nullable=False),
    sa.Column('old_login', sa.String(length=100), nullable=True),
    sa.Column('new_login', sa.String(length=100), nullable=True),
    sa.Column('new_name', sa.String(length=200), nullable=False),
    sa.Column('new_email', sa.String(length=320), nullable=False),
    sa.Column('applied_at', services.common.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_team_changes')),
    sa.UniqueConstraint('contract_id', 'version', 'role', name='uq_team_changes_version_role')
    )
    with op.batch_alter_table('team_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_team_changes_effective_from'), ['effective_from'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('team_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_team_changes_effective_from'))
    op.drop_table('team_changes')
    op.drop_table('contract_teams')
    with op.batch_alter_table('absences', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_absences_substitute_login'))
        batch_op.drop_index(batch_op.f('ix_absences_login'))
    op.drop_table('absences')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cases_substitute_login'))
        batch_op.drop_column('absence_id')
        batch_op.drop_column('substitute_name')
        batch_op.drop_column('substitute_login')
