"""An overdue fee's facts on its notice (amount outstanding, gross, currency, the office's account), so the Polish
and the English mail each say them in their own format

Revision ID: notifier_0005_fee_amount
Revises: notifier_0004_duty_column
Create Date: 2026-11-30 01:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'notifier_0005_fee_amount'
down_revision: str | None = 'notifier_0004_duty_column'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Fee notices written before keep NULL here: their amount is only in their Polish body, which their mails show.
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=True))
        batch_op.add_column(sa.Column('gross', sa.Numeric(precision=14, scale=2), nullable=True))
        batch_op.add_column(sa.Column('currency', sa.String(length=3), nullable=True))
        batch_op.add_column(sa.Column('account', sa.String(length=26), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.drop_column('account')
        batch_op.drop_column('currency')
        batch_op.drop_column('gross')
        batch_op.drop_column('amount')
