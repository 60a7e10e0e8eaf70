"""RSVPs: going / maybe / can't go answers with a waitlist, and per-event RSVP settings;
chat actions waiting for their Confirm button

Revision ID: h13showup01
Revises: h17api01
Create Date: 2026-11-30 04:15:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'h13showup01'
down_revision = 'h17api01'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'rsvps',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('answer', sa.Enum('going', 'maybe', 'no', 'waitlisted', name='rsvpanswer', native_enum=False, length=16), nullable=False),
        sa.Column('waitlisted_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('offer_expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('answered_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_rsvps_event_id_events'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_rsvps_user_id_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_rsvps')),
        sa.UniqueConstraint('event_id', 'user_id', name=op.f('uq_rsvps_event_id_user_id')),
    )
    with op.batch_alter_table('rsvps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rsvps_event_id'), ['event_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rsvps_user_id'), ['user_id'], unique=False)

    op.create_table(
        'pending_chat_actions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('chat_identity_id', sa.Integer(), nullable=False),
        sa.Column('action', sa.String(length=16), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['chat_identity_id'], ['chat_identities.id'], name=op.f('fk_pending_chat_actions_chat_identity_id_chat_identities'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_pending_chat_actions')),
    )
    with op.batch_alter_table('pending_chat_actions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pending_chat_actions_chat_identity_id'), ['chat_identity_id'], unique=False)

    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rsvp_enabled', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('capacity', sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('capacity')
        batch_op.drop_column('rsvp_enabled')
    with op.batch_alter_table('pending_chat_actions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pending_chat_actions_chat_identity_id'))
    op.drop_table('pending_chat_actions')
    with op.batch_alter_table('rsvps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rsvps_user_id'))
        batch_op.drop_index(batch_op.f('ix_rsvps_event_id'))
    op.drop_table('rsvps')
