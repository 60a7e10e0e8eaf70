"""idempotency_records: the headers a replay repeats; answers kept with secrets or refusals go

From this revision a kept answer never holds a secret (an API key, a signing secret, a token,
a chat connect code: the replay shows them as null) and only answers of requests that ran are
kept. Answers kept before it may hold either, so they are deleted here rather than left for
their 24 hours: a retry of one of those requests runs again (one more key, say), which is the
lesser harm. The others are replayed as JSON, as they were.

Revision ID: h18idem01
Revises: h18settled01
Create Date: 2026-12-06 05:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'h18idem01'
down_revision = 'h18settled01'
branch_labels = None
depends_on = None

records = sa.table(
    'idempotency_records',
    sa.column('status', sa.Integer()), sa.column('response_body', sa.Text()), sa.column('response_headers', sa.JSON()),
)
# How the secrets of those answers begin: "sk_...", "whsec_...", {"access_token": ...}, and a
# connect code's {"command": "/soonish connect ABCD-2345"}.
SECRET_MARKS = ('"sk_', '"whsec_', '"access_token"', '"command"')


def upgrade():
    with op.batch_alter_table('idempotency_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('response_headers', sa.JSON(), nullable=True))
    body = records.c.response_body
    op.execute(records.delete().where(sa.or_(
        records.c.status >= 400, *(body.contains(mark, autoescape=True) for mark in SECRET_MARKS),
    )))
    op.execute(records.update().where(records.c.status.is_not(None), body != '')
               .values(response_headers={'Content-Type': 'application/json'}))


def downgrade():
    with op.batch_alter_table('idempotency_records', schema=None) as batch_op:
        batch_op.drop_column('response_headers')
