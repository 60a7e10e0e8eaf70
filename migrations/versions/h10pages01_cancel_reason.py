"""cancel reason on events

Revision ID: h10pages01
Revises: 8f0cff00fa3e
Create Date: 2026-11-30 04:45:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'h10pages01'
down_revision = '8f0cff00fa3e'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cancel_reason', sa.String(length=500), nullable=True))


def downgrade():
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('cancel_reason')
