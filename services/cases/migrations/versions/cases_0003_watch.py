"""deadlines watched: cases.deadline_state and commissioner_email, the alert, digest and run claims

Revision ID: cases_0003_watch
Revises: cases_0002
Create Date: 2026-11-29 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.common.db

revision: str = 'cases_0003_watch'
down_revision: str | None = 'cases_0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

def upgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('commissioner_email', sa.String(length=320), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('deadline_state', sa.String(length=10), nullable=False,
                                      server_default='on_time'))
        batch_op.create_index('ix_cases_assignee_status', ['assignee_login', 'status', 'due'], unique=False)
        batch_op.create_index('ix_cases_commissioner_status', ['commissioner_login', 'status'], unique=False)
        batch_op.create_index('ix_cases_deadline_state', ['deadline_state', 'due'], unique=False)

    op.create_table('case_alerts',
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('due', sa.Date(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('created_at', services.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_alerts_case_id_cases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('case_id', 'kind', 'step', 'due', name='pk_case_alerts')
    )
    op.create_table('case_digests',
    sa.Column('login', sa.String(length=100), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('cases', sa.Integer(), nullable=False),
    sa.Column('created_at', services.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('login', 'day', name='pk_case_digests')
    )
    op.create_table('case_watch_runs',
    sa.Column('job', sa.String(length=40), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('created_at', services.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('job', 'day', name='pk_case_watch_runs')
    )


def downgrade() -> None:
    op.drop_table('case_watch_runs')
    op.drop_table('case_digests')
    op.drop_table('case_alerts')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_deadline_state')
        batch_op.drop_index('ix_cases_commissioner_status')
        batch_op.drop_index('ix_cases_assignee_status')
        batch_op.drop_column('deadline_state')
        batch_op.drop_column('commissioner_email')
