"""Which server a session's statements go to: the primary (DATABASE_URL), unless the web app put
a read replica's engine in ``session.info[READ_FROM]`` for a request that only reads
(web/replicas.py). Workers, CLI commands and anything outside such a request never do, so they
read and write the primary.

A session reading from a replica never writes there (a standby would refuse anyway): a flush, an
INSERT / UPDATE / DELETE, a SELECT ... FOR UPDATE or any statement that is not a plain SELECT
raises WriteOnReplica before it is sent, and the web app runs the request again on the primary.
SQLAlchemy's documented way to route statements: a Session whose get_bind chooses the engine."""
from flask_sqlalchemy.session import Session
from sqlalchemy import CompoundSelect, Select, TextClause

READ_FROM = "soonish.read_from"  # session.info: the replica engine this session reads from
WROTE = "soonish.wrote"  # session.info: the session sent (or tried to send) a write


class WriteOnReplica(Exception):
    """A session reading from a replica was asked to write."""


def reads_only(statement) -> bool:
    """A statement a standby can answer: a SELECT that locks nothing (None: the caller asks
    which engine, e.g. for its dialect, and runs nothing)."""
    if statement is None:
        return True
    if isinstance(statement, Select):
        return statement._for_update_arg is None
    if isinstance(statement, TextClause):
        return statement.text.lstrip()[:6].upper() == "SELECT"
    return isinstance(statement, CompoundSelect)


class ReplicaRoutingSession(Session):
    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        if bind is not None:
            return bind
        replica = self.info.get(READ_FROM)
        if self._flushing or not reads_only(clause):
            self.info[WROTE] = True
            if replica is not None:
                raise WriteOnReplica(f"a write on a request reading from a replica: {str(clause)[:80]!r}")
        elif replica is not None:
            return replica
        return super().get_bind(mapper, clause, bind, **kwargs)
