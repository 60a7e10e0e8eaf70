"""deliveries: the waits a send spent on rate limits, and the one it is in now

Revision ID: h15pacing01
Revises: h15fallback01
Create Date: 2026-11-30 07:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'h15pacing01'
down_revision = 'h15fallback01'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('waits', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('waited_seconds', sa.Float(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('waiting_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('waiting_for', sa.String(length=100), nullable=True))


def downgrade():
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('waiting_for')
        batch_op.drop_column('waiting_until')
        batch_op.drop_column('waited_seconds')
        batch_op.drop_column('waits')
