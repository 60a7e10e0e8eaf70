"""chat_installations and oauth_states: "Add to Slack" for any workspace

One row per workspace our Slack app is installed in (Discord: per server), its bot token
encrypted like integration URLs; and the OAuth flows' single-use state.

Revision ID: h19chat01
Revises: h18idem01
Create Date: 2026-12-06 08:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'h19chat01'
down_revision = 'h18idem01'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'chat_installations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('platform', sa.String(length=16), nullable=False),
        sa.Column('workspace_id', sa.String(length=64), nullable=False),
        sa.Column('workspace_name', sa.String(length=120), server_default='', nullable=False),
        sa.Column('enterprise_id', sa.String(length=64), nullable=True),
        sa.Column('is_enterprise_install', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('app_id', sa.String(length=64), nullable=True),
        sa.Column('bot_token_encrypted', sa.LargeBinary(), nullable=True),
        sa.Column('bot_id', sa.String(length=64), nullable=True),
        sa.Column('bot_user_id', sa.String(length=64), nullable=True),
        sa.Column('bot_scopes', sa.String(length=1000), server_default='', nullable=False),
        sa.Column('installer_external_id', sa.String(length=64), nullable=True),
        sa.Column('installed_by_id', sa.Integer(), nullable=True),
        sa.Column('installed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('removed_reason', sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(['installed_by_id'], ['users.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('platform', 'workspace_id'),
    )
    with op.batch_alter_table('chat_installations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_chat_installations_enterprise_id'), ['enterprise_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_chat_installations_installed_by_id'), ['installed_by_id'], unique=False)
    op.create_table(
        'oauth_states',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('state_hash', sa.String(length=64), nullable=False),
        sa.Column('purpose', sa.String(length=32), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('state_hash'),
    )
    with op.batch_alter_table('oauth_states', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oauth_states_user_id'), ['user_id'], unique=False)


def downgrade():
    op.drop_table('oauth_states')
    op.drop_table('chat_installations')
