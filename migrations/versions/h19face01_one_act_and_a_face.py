"""The event page's one act and its face: a visitor's "I'm going" carried out on confirm,
consent to show among those going, the organizer's switch for that list, and a host's bio

Revision ID: h19face01
Revises: h19mailrep01
Create Date: 2026-12-06 08:45:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'h19face01'
down_revision = 'h19mailrep01'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('going_on_confirm', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('listed_on_confirm', sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table('rsvps', schema=None) as batch_op:
        batch_op.add_column(sa.Column('listed', sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('show_guest_list', sa.Boolean(), server_default=sa.true(), nullable=False))
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('bio', sa.String(length=280), server_default='', nullable=False))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('bio')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('show_guest_list')
    with op.batch_alter_table('rsvps', schema=None) as batch_op:
        batch_op.drop_column('listed')
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_column('listed_on_confirm')
        batch_op.drop_column('going_on_confirm')
