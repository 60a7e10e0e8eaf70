"""Web Push channels: a browser's subscription on integrations, and single-use push answers

integrations.push_subscription_encrypted holds the subscription (endpoint and keys) as a
Fernet token; push_endpoint_hash finds the same browser's channel again (unique).
deliveries.answered_at marks a push notification's answer token as used.

Revision ID: h28push01
Revises: h25comm01
Create Date: 2026-12-06 08:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'h28push01'
down_revision = 'h25comm01'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('integrations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('push_subscription_encrypted', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('push_endpoint_hash', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint('uq_integrations_push_endpoint_hash', ['push_endpoint_hash'])
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('answered_at')
    with op.batch_alter_table('integrations', schema=None) as batch_op:
        batch_op.drop_constraint('uq_integrations_push_endpoint_hash', type_='unique')
        batch_op.drop_column('push_endpoint_hash')
        batch_op.drop_column('push_subscription_encrypted')
