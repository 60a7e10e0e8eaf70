"""Every reader's language: a person's chosen locale, an event's language tag

users.locale is the language a signed-in person chose on their account page (NULL: their
browser's Accept-Language decides). events.language is the BCP 47 tag of the organizer's own
text (NULL: not said), so the event page marks it for screen readers.

Revision ID: h29i18n01
Revises: h25follow01
Create Date: 2026-12-06 12:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'h29i18n01'
down_revision = 'h25follow01'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locale', sa.String(length=16), nullable=True))
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=35), nullable=True))


def downgrade():
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('language')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('locale')
