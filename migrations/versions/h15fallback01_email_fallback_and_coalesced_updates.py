"""chat DMs fall back to email (a per-account switch); updates remember what they changed from

Revision ID: h15fallback01
Revises: h12follow01
Create Date: 2026-11-30 07:30:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'h15fallback01'
down_revision = 'h12follow01'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_fallback', sa.Boolean(), server_default=sa.true(), nullable=False))
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('change_from', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_column('change_from')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('email_fallback')
