"""visibility tables (contract teams by version, absences), one-time steps, an append-only audit log

Revision ID: gateway_0003
Revises: gateway_0002
Create Date: 2026-12-04 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.common.db

revision: str = 'gateway_0003'
down_revision: str | None = 'gateway_0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('absences',
    sa.Column('absence_id', sa.String(length=64), nullable=False),
    sa.Column('login', sa.String(length=100), nullable=False),
    sa.Column('substitute', sa.String(length=100), nullable=True),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('cancelled', sa.Boolean(), nullable=False),
    sa.Column('changed_at', services.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('absence_id', name=op.f('pk_absences'))
    )
    with op.batch_alter_table('absences', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_absences_substitute'), ['substitute'], unique=False)

    op.create_table('contract_access',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('contract_id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('login', sa.String(length=100), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contract_access')),
    sa.UniqueConstraint('contract_id', 'version', 'role', name='uq_contract_access_version_role')
    )
    with op.batch_alter_table('contract_access', schema=None) as batch_op:
        batch_op.create_index('ix_contract_access_contract_from', ['contract_id', 'effective_from'], unique=False)
        batch_op.create_index(batch_op.f('ix_contract_access_login'), ['login'], unique=False)

    op.create_table('one_time_steps',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('done_at', services.common.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_one_time_steps'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_action_at', ['action', 'at'], unique=False)
        batch_op.create_index('ix_audit_log_login_at', ['login', 'at'], unique=False)

    # No one edits or deletes the audit log, not even a route written by mistake. (SQLite drops a table's
    # triggers with the table: a later batch migration that rebuilds audit_log must create them again.)
    if op.get_bind().dialect.name == "sqlite":
        for what in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER audit_log_no_{what.lower()} BEFORE {what} ON audit_log "
                       "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END")
    else:
        op.execute("CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
                   "$$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$")
        op.execute("CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
                   "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()")
        op.execute("CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
                   "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER audit_log_no_update")
        op.execute("DROP TRIGGER audit_log_no_delete")
    else:
        op.execute("DROP TRIGGER audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER audit_log_no_change ON audit_log")
        op.execute("DROP FUNCTION audit_log_append_only()")
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_login_at')
        batch_op.drop_index('ix_audit_log_action_at')

    op.drop_table('one_time_steps')
    with op.batch_alter_table('contract_access', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contract_access_login'))
        batch_op.drop_index('ix_contract_access_contract_from')

    op.drop_table('contract_access')
    with op.batch_alter_table('absences', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_absences_substitute'))

    op.drop_table('absences')
