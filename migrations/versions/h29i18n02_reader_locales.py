"""Readers' languages: a follow remembers the language of the page it was made on, a chat
identity the language of its platform's account (or, for a channel, of whoever made it follow)

Revision ID: h29i18n02
Revises: h29i18n01
Create Date: 2026-12-06 12:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'h29i18n02'
down_revision = 'h29i18n01'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locale', sa.String(length=16), nullable=True))
    with op.batch_alter_table('chat_identities', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locale', sa.String(length=16), nullable=True))


def downgrade():
    with op.batch_alter_table('chat_identities', schema=None) as batch_op:
        batch_op.drop_column('locale')
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_column('locale')
