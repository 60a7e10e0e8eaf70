"""deliveries: no index of their own on notification_id and status

Every query of the ledger names the notification, and the unique key (notification_id,
subscription_id, target) leads with it, so it serves them all; the index on notification_id
alone had nothing left to do, and status alone (three values) was read by no query. Both were
written on every claim, and a recorded send changes status, so each one moved its row in every
index. bench/broadcast.py, 100,000 webhooks on PostgreSQL, three runs against two: 154,000-
162,000/min against 134,000-150,000, PostgreSQL's own CPU 10.8-10.9 s against 12.0-12.7 s.

Revision ID: h14ledger01
Revises: h12count01
Create Date: 2026-11-30 16:45:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'h14ledger01'
down_revision = 'h12count01'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deliveries_status'))
        batch_op.drop_index(batch_op.f('ix_deliveries_notification_id'))


def downgrade():
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deliveries_notification_id'), ['notification_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_deliveries_status'), ['status'], unique=False)
