"""Deliveries in a group of sends in flight are held by its attempt until a moment: a newer
attempt of the batch leaves them alone until then, so a live worker taken over sends nothing twice

Revision ID: h32hold01
Revises: h31fence01
Create Date: 2026-12-06 18:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'h32hold01'
down_revision = 'h31fence01'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sending_until', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('sending_until')
