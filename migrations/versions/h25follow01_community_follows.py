"""following a community: community_follows (mode, status, selectors, the digest day sent),
communities.digest_weekday, and subscriptions.community_follow_id (made through a community)

Revision ID: h25follow01
Revises: h28push01
Create Date: 2026-12-07 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'h25follow01'
down_revision = 'h28push01'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'community_follows',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('community_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('mode', sa.Enum('new_events', 'digest', 'every_event', name='followmode', native_enum=False,
                                  length=16), nullable=False),
        sa.Column('status', sa.Enum('pending', 'active', 'unsubscribed', 'suggested', name='subscriptionstatus',
                                    native_enum=False, length=16), nullable=False),
        sa.Column('selectors', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('digest_sent_on', sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('community_id', 'user_id'),
    )
    op.create_index('ix_community_follows_community_status', 'community_follows', ['community_id', 'status'])
    op.create_index(op.f('ix_community_follows_user_id'), 'community_follows', ['user_id'])
    with op.batch_alter_table('communities', schema=None) as batch_op:
        batch_op.add_column(sa.Column('digest_weekday', sa.Integer(), server_default='0', nullable=False))
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('community_follow_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_subscriptions_community_follow_id', 'community_follows',
                                    ['community_follow_id'], ['id'], ondelete='SET NULL')


def downgrade():
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_constraint('fk_subscriptions_community_follow_id', type_='foreignkey')
        batch_op.drop_column('community_follow_id')
    with op.batch_alter_table('communities', schema=None) as batch_op:
        batch_op.drop_column('digest_weekday')
    op.drop_index(op.f('ix_community_follows_user_id'), table_name='community_follows')
    op.drop_index('ix_community_follows_community_status', table_name='community_follows')
    op.drop_table('community_follows')
