"""recurring series: series, series_follows, and events as occurrences

Revision ID: h13series01
Revises: h12connect01
Create Date: 2026-11-30 07:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'h13series01'
down_revision = 'h12connect01'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'series',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('slug', sa.String(length=96), nullable=False),
        sa.Column('organizer_id', sa.Integer(), nullable=False),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('location', sa.String(length=300), nullable=False),
        sa.Column('online_url', sa.String(length=500), nullable=False),
        sa.Column('visibility', sa.Enum('public', 'unlisted', 'private', name='visibility', native_enum=False,
                                        length=16), nullable=False),
        sa.Column('timezone', sa.String(length=64), nullable=False),
        sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('duration_seconds', sa.Integer(), nullable=True),
        sa.Column('rrule', sa.String(length=200), nullable=False),
        sa.Column('materialized_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('status', sa.Enum('active', 'cancelled', name='seriesstatus', native_enum=False, length=16),
                  nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['organizer_id'], ['users.id'], name=op.f('fk_series_organizer_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_series')),
        sa.UniqueConstraint('slug', name=op.f('uq_series_slug')),
    )
    with op.batch_alter_table('series', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_series_organizer_id'), ['organizer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_series_status'), ['status'], unique=False)

    op.create_table(
        'series_follows',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('series_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('selectors', sa.JSON(), nullable=False),
        sa.Column('reminder_offsets', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['series_id'], ['series.id'], name=op.f('fk_series_follows_series_id_series'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_series_follows_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_series_follows')),
        sa.UniqueConstraint('series_id', 'user_id', name=op.f('uq_series_follows_series_id_user_id')),
    )
    with op.batch_alter_table('series_follows', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_series_follows_series_id'), ['series_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_series_follows_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('series_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('occurrence_start', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('occurrence_overridden', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))
        batch_op.create_index(batch_op.f('ix_events_series_id'), ['series_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_events_series_id_series'), 'series', ['series_id'], ['id'],
                                    ondelete='SET NULL')
        batch_op.create_unique_constraint(batch_op.f('uq_events_series_id_occurrence_start'),
                                          ['series_id', 'occurrence_start'])


def downgrade():
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_events_series_id_occurrence_start'), type_='unique')
        batch_op.drop_constraint(batch_op.f('fk_events_series_id_series'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_events_series_id'))
        batch_op.drop_column('occurrence_overridden')
        batch_op.drop_column('occurrence_start')
        batch_op.drop_column('series_id')
    with op.batch_alter_table('series_follows', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_series_follows_user_id'))
        batch_op.drop_index(batch_op.f('ix_series_follows_series_id'))
    op.drop_table('series_follows')
    with op.batch_alter_table('series', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_series_status'))
        batch_op.drop_index(batch_op.f('ix_series_organizer_id'))
    op.drop_table('series')
