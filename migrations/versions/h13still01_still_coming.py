"""the "still coming?" check: the organizer's switch and lead time on events, and on an RSVP the
start time its "yes" confirmed

Revision ID: h13still01
Revises: h13series01
Create Date: 2026-11-30 07:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'h13still01'
down_revision = 'h13series01'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('still_coming_check', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('still_coming_hours', sa.Integer(), server_default='24', nullable=False))
    with op.batch_alter_table('rsvps', schema=None) as batch_op:
        batch_op.add_column(sa.Column('still_coming_for', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('rsvps', schema=None) as batch_op:
        batch_op.drop_column('still_coming_for')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('still_coming_hours')
        batch_op.drop_column('still_coming_check')
