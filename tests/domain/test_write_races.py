"""A write that lost a race is read again and retried; any other broken rule is not."""
import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from soonish.models import Subscription, UniqueKeyTaken, User, db, is_unique_violation
from soonish.services import Unavailable
from soonish.services.subscriptions import _retried_on_conflict


def integrity_error(statement) -> IntegrityError:
    with pytest.raises(IntegrityError) as raised:
        db.session.execute(statement)
    db.session.rollback()
    return raised.value


def test_a_duplicate_key_is_a_lost_race_and_a_missing_value_is_not(event):
    db.session.add(User(email="taken@example.com"))
    db.session.commit()
    taken = integrity_error(insert(User).values(email="taken@example.com"))
    assert is_unique_violation(taken)
    assert isinstance(taken, UniqueKeyTaken)  # as every statement raises it, for callers to catch
    # A follow of no event: NOT NULL, which no retry can mend.
    broken = integrity_error(insert(Subscription).values(event_id=None, user_id=event.organizer_id))
    assert not is_unique_violation(broken)
    assert not isinstance(broken, UniqueKeyTaken)


def test_a_follow_that_lost_a_race_is_retried_and_a_broken_rule_is_raised_at_once(event):
    db.session.add(User(email="taken@example.com"))
    db.session.commit()
    attempts = []

    def loses_once():
        attempts.append("unique")
        if len(attempts) == 1:
            db.session.execute(insert(User).values(email="taken@example.com"))
        return "written"

    assert _retried_on_conflict(loses_once) == "written" and len(attempts) == 2

    calls = []

    def broken():
        calls.append("not null")
        db.session.execute(insert(Subscription).values(event_id=None, user_id=event.organizer_id))

    with pytest.raises(IntegrityError):
        _retried_on_conflict(broken)
    assert calls == ["not null"]  # not retried, and not reported as "lots of people following"

    def always_loses():
        db.session.execute(insert(User).values(email="taken@example.com"))

    with pytest.raises(Unavailable):
        _retried_on_conflict(always_loses)
