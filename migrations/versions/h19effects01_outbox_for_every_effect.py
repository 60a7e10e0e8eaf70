"""the outbox carries every effect after a commit: rows about no event, and a payload

One-off mails and webhook messages belong to no event; a one-off mail names its kind (and an
address no table holds), a waitlist offer its expiry.

Revision ID: h19effects01
Revises: h19chat01
Create Date: 2026-12-06 09:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'h19effects01'
down_revision = 'h19chat01'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.alter_column('event_id', existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column('payload', sa.JSON(), nullable=True))


def downgrade():
    op.execute("DELETE FROM outbox WHERE event_id IS NULL")
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('payload')
        batch_op.alter_column('event_id', existing_type=sa.Integer(), nullable=False)
