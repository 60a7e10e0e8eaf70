"""accounts and retention: per-user token epoch, erased tombstones, folded delivery tallies

Revision ID: h16accounts01
Revises: h10pages01
Create Date: 2026-11-30 04:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'h16accounts01'
down_revision = 'h10pages01'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('token_epoch', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        'delivery_tallies',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('notification_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.Enum('pending', 'sent', 'failed', 'skipped', name='deliverystatus',
                                    native_enum=False, length=16), nullable=False),
        sa.Column('reason', sa.String(length=500), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['notification_id'], ['notifications.id'],
                                name=op.f('fk_delivery_tallies_notification_id_notifications'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_tallies')),
        sa.UniqueConstraint('notification_id', 'status', 'reason',
                            name=op.f('uq_delivery_tallies_notification_id_status_reason')),
    )
    with op.batch_alter_table('delivery_tallies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_delivery_tallies_notification_id'), ['notification_id'], unique=False)


def downgrade():
    with op.batch_alter_table('delivery_tallies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_delivery_tallies_notification_id'))
    op.drop_table('delivery_tallies')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('erased_at')
        batch_op.drop_column('token_epoch')
