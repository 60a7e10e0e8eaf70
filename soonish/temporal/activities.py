"""What every feature's activities share."""
import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask
from temporalio import activity

T = TypeVar("T")


def database_activity(name: str):
    """A synchronous activity that works in the database.

    Temporal cancels a threaded activity (at worker shutdown, for one) by raising an exception
    in its thread wherever it is. Raised between a query and its answer, it leaves the connection
    with an unread result and an open transaction holding its locks (seen: a DROP TABLE waiting
    forever behind a plan_fanout cancelled that way). These activities are short: let them finish.
    """
    return activity.defn(name=name, no_thread_cancel_exception=True)


class AppBound:
    """Worker code bound to one app, so each of its database calls runs with the app's
    database and config."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    async def in_app(self, call: Callable[..., T], *args: Any) -> T:
        """A database call of the domain, in the app's context, off the event loop."""
        def run() -> T:
            with self.app.app_context():
                return call(*args)
        return await asyncio.to_thread(run)

