#!/usr/bin/env python
"""Pagination benchmark: does page 200 of a 10,000-event list cost what page 1 costs?

    .venv/bin/python bench/pagination.py [--events 10000] [--limit 50] [--repeat 20] [--database-url URL]

One organizer with --events events (written straight to the database, SQLite by default or
--database-url), read through the real API (`GET /api/v1/me/events`, WSGI in-process, a
bearer token) a page at a time by following next_cursor. Reports the median time of page 1 and
of the last page (page 200 at 10,000 / 50) over --repeat reads of each, and for comparison
what an OFFSET query for the same page costs the database. Keyset paging seeks on the
(starts_at, id) index, so the ratio should stay near 1 whatever the page.
"""
import argparse
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from soonish.models import Event, User, db  # noqa: E402
from soonish.web import create_app  # noqa: E402
from soonish.web.tokens import issue_token  # noqa: E402


def median_ms(call, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="soonish-bench-pages-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.sqlite'}"
    app = create_app({"SECRET_KEY": "bench-secret-" + "x" * 32, "DATABASE_URL": url, "DEV": True,
                      "RATELIMIT_ENABLED": False, "PUBLIC_URL": "http://bench.invalid"})
    with app.app_context():
        db.drop_all()
        db.create_all()
        organizer = User(email="organizer@bench.invalid", display_name="Bench")
        db.session.add(organizer)
        db.session.commit()
        start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=1)
        db.session.add_all([
            Event(slug=f"e-{i}-{uuid.uuid4().hex[:6]}", organizer_id=organizer.id, title=f"Event {i}",
                  starts_at=start + timedelta(minutes=i // 2), timezone="UTC")
            for i in range(args.events)
        ])
        db.session.commit()
        token, _ = issue_token(organizer)
        organizer_id = organizer.id
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}

    def page(cursor: str | None) -> dict:
        query = {"limit": args.limit, **({"cursor": cursor} if cursor else {})}
        response = client.get("/api/v1/me/events", query_string=query, headers=headers)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    cursors: list[str | None] = [None]
    seen = 0
    while True:  # walk every page once, keeping each page's cursor
        body = page(cursors[-1])
        seen += len(body["items"])
        if body["next_cursor"] is None:
            break
        cursors.append(body["next_cursor"])
    assert seen == args.events, (seen, args.events)
    last = len(cursors)
    first_ms = median_ms(lambda: page(None), args.repeat)
    last_ms = median_ms(lambda: page(cursors[-1]), args.repeat)

    with app.app_context():  # the same page by OFFSET, for comparison (database time only)
        def by_offset(number: int):
            return lambda: list(db.session.scalars(
                select(Event).where(Event.organizer_id == organizer_id).order_by(Event.starts_at, Event.id)
                .offset((number - 1) * args.limit).limit(args.limit)))
        offset_first = median_ms(by_offset(1), args.repeat)
        offset_last = median_ms(by_offset(last), args.repeat)

    backend = url.split(":", 1)[0]
    print(f"{args.events} events, {last} pages of {args.limit}, {backend}, median of {args.repeat} reads each")
    print(f"API keyset page 1:      {first_ms:7.2f} ms")
    print(f"API keyset page {last}:   {last_ms:7.2f} ms")
    print(f"SQL OFFSET page 1:      {offset_first:7.2f} ms   page {last}: {offset_last:7.2f} ms "
          f"(x{offset_last / offset_first:.2f})")
    print(f"RESULT pagination page_1_ms={first_ms:.2f} page_{last}_ms={last_ms:.2f} ratio={last_ms / first_ms:.2f}")


if __name__ == "__main__":
    main()
