"""client task reminders: notices.case_id and rule_id (a duty notice reminds the client of one client task)

Revision ID: notifier_0003_duty
Revises: notifier_0002
Create Date: 2026-11-29 22:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'notifier_0003_duty'
down_revision: str | None = 'notifier_0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('case_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('rule_id', sa.String(length=100), nullable=True))
        batch_op.create_index('ix_notices_case_id', ['case_id'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.drop_index('ix_notices_case_id')
        batch_op.drop_column('rule_id')
        batch_op.drop_column('case_id')
