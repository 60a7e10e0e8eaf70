"""email channels (another address, verified by link), chat connect codes, chat identity names

Revision ID: h12connect01
Revises: h15pacing01
Create Date: 2026-11-30 07:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'h12connect01'
down_revision = 'h15pacing01'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('integrations', schema=None) as batch_op:
        batch_op.alter_column('apprise_url_encrypted', existing_type=sa.LargeBinary(), nullable=True)
        batch_op.add_column(sa.Column('email_address', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('email_verified_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('verification_sent_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('chat_identities', schema=None) as batch_op:
        batch_op.add_column(sa.Column('handle', sa.String(length=120), server_default='', nullable=False))
        batch_op.add_column(sa.Column('workspace_name', sa.String(length=120), server_default='', nullable=False))

    op.create_table(
        'chat_connect_codes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('platform', sa.String(length=16), nullable=False),
        sa.Column('code_hash', sa.String(length=64), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_chat_connect_codes_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_chat_connect_codes')),
        sa.UniqueConstraint('code_hash', name=op.f('uq_chat_connect_codes_code_hash')),
    )
    with op.batch_alter_table('chat_connect_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_chat_connect_codes_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('chat_connect_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_chat_connect_codes_user_id'))
    op.drop_table('chat_connect_codes')
    with op.batch_alter_table('chat_identities', schema=None) as batch_op:
        batch_op.drop_column('workspace_name')
        batch_op.drop_column('handle')
    # Email channels have no Apprise URL to keep: they go with the column.
    op.execute("DELETE FROM integrations WHERE apprise_url_encrypted IS NULL")
    with op.batch_alter_table('integrations', schema=None) as batch_op:
        batch_op.drop_column('verification_sent_at')
        batch_op.drop_column('email_verified_at')
        batch_op.drop_column('email_address')
        batch_op.alter_column('apprise_url_encrypted', existing_type=sa.LargeBinary(), nullable=False)
