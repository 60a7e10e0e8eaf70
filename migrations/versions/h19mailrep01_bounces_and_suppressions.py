"""mail_bounces and suppressed_addresses: what mailbox providers answered, and the addresses no
mail goes to any more (deliveries.status gains "suppressed": a string column, no change);
notifications.paused_at and resumed_at: a broadcast paused for its bounce rate.

Revision ID: h19mailrep01
Revises: h19effects01
Create Date: 2026-12-06 08:20:00

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'h19mailrep01'
down_revision = 'h19effects01'
branch_labels = None
depends_on = None

KIND = sa.Enum('hard', 'soft', 'complaint', name='bouncekind', native_enum=False, length=16)


def upgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('paused_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('resumed_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        'mail_bounces',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('address_tag', sa.String(length=100), nullable=False),
        sa.Column('kind', KIND, nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.String(length=300), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('delivery_id', sa.Integer(), nullable=True),
        sa.Column('notification_id', sa.Integer(), nullable=True),
        sa.Column('organizer_id', sa.Integer(), nullable=True),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['delivery_id'], ['deliveries.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['notification_id'], ['notifications.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['organizer_id'], ['users.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('mail_bounces', schema=None) as batch_op:
        batch_op.create_index('ix_mail_bounces_address', ['address_tag', 'received_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_mail_bounces_delivery_id'), ['delivery_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_mail_bounces_notification_id'), ['notification_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_mail_bounces_organizer_id'), ['organizer_id'], unique=False)
    op.create_table(
        'suppressed_addresses',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('address_tag', sa.String(length=100), nullable=False),
        sa.Column('masked', sa.String(length=254), nullable=False),
        sa.Column('kind', KIND, nullable=False),
        sa.Column('reason', sa.String(length=300), nullable=False),
        sa.Column('suppressed_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('address_tag'),
    )


def downgrade():
    op.drop_table('suppressed_addresses')
    with op.batch_alter_table('mail_bounces', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mail_bounces_organizer_id'))
        batch_op.drop_index(batch_op.f('ix_mail_bounces_notification_id'))
        batch_op.drop_index(batch_op.f('ix_mail_bounces_delivery_id'))
        batch_op.drop_index('ix_mail_bounces_address')
    op.drop_table('mail_bounces')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_column('resumed_at')
        batch_op.drop_column('paused_at')
