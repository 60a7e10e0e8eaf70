"""subscriptions: one index on (event_id, status) in place of the one on event_id

An event page counts its active followers on every view, and planning lists them; with event_id
alone the database read each of the event's rows to check its status (10,000 followers: about
1 ms of every page view). The unique (event_id, user_id) and this index both lead with event_id,
so the index on event_id alone had nothing left to do.

Revision ID: h12count01
Revises: h13still01
Create Date: 2026-11-30 14:40:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'h12count01'
down_revision = 'h13still01'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.create_index('ix_subscriptions_event_id_status', ['event_id', 'status'], unique=False)
        batch_op.drop_index(batch_op.f('ix_subscriptions_event_id'))


def downgrade():
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subscriptions_event_id'), ['event_id'], unique=False)
        batch_op.drop_index('ix_subscriptions_event_id_status')
