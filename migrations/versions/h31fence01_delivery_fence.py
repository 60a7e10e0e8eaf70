"""Deliveries carry the batch attempt that may send them: an attempt still running after
Temporal handed its batch to a newer one sends nothing the newer one took

Revision ID: h31fence01
Revises: h29i18n02
Create Date: 2026-12-06 14:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'h31fence01'
down_revision = 'h29i18n02'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fence', sa.BigInteger(), nullable=True))


def downgrade():
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('fence')
