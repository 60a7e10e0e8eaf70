"""notifications.settled_at: when the event's workflow finished a notification's fan-out

Until it is set, a notification without deliveries is still on its way (its batches have not
claimed their ledger rows yet), not one that found nobody, so the organizer's live counts keep
following it. Every notification already in the table was handed over long ago: it counts as
settled from its creation.

Revision ID: h18settled01
Revises: h14ledger01
Create Date: 2026-12-06 05:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'h18settled01'
down_revision = 'h14ledger01'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE notifications SET settled_at = created_at")


def downgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_column('settled_at')
