"""follow outbox, event covers, event online link and follower-count switch

The outbox holds confirm mails and workflow nudges left by follow requests for the worker.

Revision ID: h12follow01
Revises: h13showup01
Create Date: 2026-11-30 04:20:00

"""
from alembic import op
import sqlalchemy as sa



# revision identifiers, used by Alembic.
revision = 'h12follow01'
down_revision = 'h13showup01'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'outbox',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.Enum('confirm_mail', 'notify', 'reminders', name='outboxkind', native_enum=False,
                                  length=16), nullable=False),
        sa.Column('event_id', sa.Integer(), nullable=False),
        sa.Column('subject_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_error', sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_outbox_event_id_events'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_event_id'), ['event_id'], unique=False)
        batch_op.create_index('ix_outbox_pending', ['done_at', 'id'], unique=False)
        batch_op.create_index('ix_outbox_subject', ['kind', 'subject_id'], unique=False)


    op.create_table(
        'event_covers',
        sa.Column('event_id', sa.Integer(), nullable=False),
        sa.Column('image', sa.LargeBinary(), nullable=False),
        sa.Column('content_type', sa.String(length=32), nullable=False),
        sa.Column('etag', sa.String(length=64), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_event_covers_event_id_events'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('event_id', name=op.f('pk_event_covers')),
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('online_url', sa.String(length=500), server_default='', nullable=False))
        batch_op.add_column(sa.Column('show_follower_count', sa.Boolean(), server_default=sa.true(), nullable=False))


def downgrade():
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('show_follower_count')
        batch_op.drop_column('online_url')
    op.drop_table('event_covers')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_subject')
        batch_op.drop_index('ix_outbox_pending')
        batch_op.drop_index(batch_op.f('ix_outbox_event_id'))
    op.drop_table('outbox')
