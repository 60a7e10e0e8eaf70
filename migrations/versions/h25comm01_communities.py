"""communities: a named page owning events and series, its members' roles, invites and audit list

Every organizer before communities (anyone with an event or a series) gets a personal community,
named after them, with them as its owner, and their events and series are moved into it: their
pages, links and rights stay as they were, and /hosts/<id> now leads to /c/<slug>.

Revision ID: h25comm01
Revises: h19face01
Create Date: 2026-12-06 09:30:00

"""
import re

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'h25comm01'
down_revision = 'h19face01'
branch_labels = None
depends_on = None

NAME_MAX, SLUG_MAX = 120, 60


def _personal_slug(name: str, user_id: int) -> str:
    # As soonish.domain.communities.slug_from does today, copied so the migration stays as it ran.
    tail = f"-{user_id}"
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:SLUG_MAX - len(tail)].strip("-")
    return f"{base or 'host'}{tail}"


def upgrade():
    op.create_table(
        'communities',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('slug', sa.String(length=SLUG_MAX), nullable=False),
        sa.Column('name', sa.String(length=NAME_MAX), nullable=False),
        sa.Column('description', sa.Text(), server_default='', nullable=False),
        sa.Column('personal_of_id', sa.Integer(), nullable=True),
        sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['personal_of_id'], ['users.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('personal_of_id'),
        sa.UniqueConstraint('slug'),
    )
    op.create_table(
        'community_members',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('community_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('role', sa.Enum('owner', 'admin', 'host', 'announcer', name='communityrole', native_enum=False,
                                  length=16), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('community_id', 'user_id'),
    )
    op.create_index('ix_community_members_community_id', 'community_members', ['community_id'])
    op.create_index('ix_community_members_user_id', 'community_members', ['user_id'])
    op.create_table(
        'community_audit',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('community_id', sa.Integer(), nullable=False),
        sa.Column('actor_id', sa.Integer(), nullable=True),
        sa.Column('action', sa.String(length=40), nullable=False),
        sa.Column('detail', sa.String(length=300), server_default='', nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['actor_id'], ['users.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_community_audit_community_id', 'community_audit', ['community_id'])
    op.create_table(
        'community_invites',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('community_id', sa.Integer(), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('role', sa.Enum('owner', 'admin', 'host', 'announcer', name='communityrole', native_enum=False,
                                  length=16), nullable=False),
        sa.Column('invited_by_id', sa.Integer(), nullable=True),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('accepted_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['accepted_by_id'], ['users.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['invited_by_id'], ['users.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_community_invites_community_id', 'community_invites', ['community_id'])
    for table in ('events', 'series'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('community_id', sa.Integer(), nullable=True))
            batch_op.create_index(f'ix_{table}_community_id', ['community_id'])
            batch_op.create_foreign_key(f'fk_{table}_community_id_communities', 'communities', ['community_id'], ['id'])
    _personal_communities_for_organizers()


def _personal_communities_for_organizers():
    conn = op.get_bind()
    organizers = conn.execute(sa.text(
        "SELECT id, display_name FROM users WHERE id IN (SELECT organizer_id FROM events) "
        "OR id IN (SELECT organizer_id FROM series) ORDER BY id"
    )).all()
    communities = sa.table('communities', sa.column('id', sa.Integer()), sa.column('slug', sa.String()),
                           sa.column('name', sa.String()), sa.column('description', sa.Text()),
                           sa.column('personal_of_id', sa.Integer()), sa.column('created_at', sa.DateTime(timezone=True)))
    members = sa.table('community_members', sa.column('community_id', sa.Integer()), sa.column('user_id', sa.Integer()),
                       sa.column('role', sa.String()), sa.column('created_at', sa.DateTime(timezone=True)))
    now = sa.func.current_timestamp()
    for user_id, display_name in organizers:
        name = (display_name or "").strip()[:NAME_MAX] or f"Host {user_id}"
        conn.execute(communities.insert().values(slug=_personal_slug(display_name or '', user_id), name=name, description='',
                                                 personal_of_id=user_id, created_at=now))
        community_id = conn.execute(sa.select(communities.c.id).where(communities.c.personal_of_id == user_id)).scalar_one()
        conn.execute(members.insert().values(community_id=community_id, user_id=user_id, role='owner', created_at=now))
    for table in ('events', 'series'):
        conn.execute(sa.text(
            f"UPDATE {table} SET community_id = (SELECT c.id FROM communities c WHERE c.personal_of_id = {table}.organizer_id)"
        ))


def downgrade():
    for table in ('series', 'events'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f'fk_{table}_community_id_communities', type_='foreignkey')
            batch_op.drop_index(f'ix_{table}_community_id')
            batch_op.drop_column('community_id')
    op.drop_index('ix_community_invites_community_id', table_name='community_invites')
    op.drop_table('community_invites')
    op.drop_index('ix_community_audit_community_id', table_name='community_audit')
    op.drop_table('community_audit')
    op.drop_index('ix_community_members_user_id', table_name='community_members')
    op.drop_index('ix_community_members_community_id', table_name='community_members')
    op.drop_table('community_members')
    op.drop_table('communities')
