"""What every feature's activities share."""
from temporalio import activity


def database_activity(name: str):
    """A synchronous activity that works in the database.

    Temporal cancels a threaded activity (at worker shutdown, for one) by raising an exception
    in its thread wherever it is. Raised between a query and its answer, it leaves the connection
    with an unread result and an open transaction holding its locks (seen: a DROP TABLE waiting
    forever behind a plan_fanout cancelled that way). These activities are short: let them finish.
    """
    return activity.defn(name=name, no_thread_cancel_exception=True)
