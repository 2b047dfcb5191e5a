"""notices.duty (what the client is asked for, was read from the subject's prefix) and one fee notice per contract
and month (overdue fees remind the client)

Revision ID: notifier_0004_duty_column
Revises: notifier_0003_duty
Create Date: 2026-11-29 23:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'notifier_0004_duty_column'
down_revision: str | None = 'notifier_0003_duty'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The subjects duty notices were written with (duties.WHAT before this revision), to fill the column.
_SUBJECT_PREFIXES = {
    "documents": "Dokumenty",
    "payroll_data": "Dane kadrowo-płacowe",
    "bank_statements": "Wyciągi bankowe",
    "statements_signing": "Podpisane sprawozdanie finansowe",
}


def upgrade() -> None:
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('duty', sa.String(length=30), nullable=True))
    for duty, prefix in _SUBJECT_PREFIXES.items():
        op.execute(sa.text("UPDATE notices SET duty = :duty WHERE kind = 'duty' AND duty IS NULL AND subject LIKE :p")
                   .bindparams(duty=duty, p=prefix + "%"))
    op.create_index('ix_notices_fee_month', 'notices', ['contract_id', 'period'], unique=True,
                    sqlite_where=sa.text("kind = 'fee'"), postgresql_where=sa.text("kind = 'fee'"))


def downgrade() -> None:
    op.drop_index('ix_notices_fee_month', table_name='notices')
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.drop_column('duty')
