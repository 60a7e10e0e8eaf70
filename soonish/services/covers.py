"""Event covers: organizers upload one, everyone who may see the event sees it."""
import hashlib

from sqlalchemy import select

from soonish.models import Event, EventCover, db
from soonish.domain.share import CoverRefused, process_cover
from soonish.services.errors import ValidationFailed
from soonish.services.events import get_event_for_organizer


def set_cover(actor, event_id: int, data: bytes) -> EventCover:
    event = get_event_for_organizer(actor, event_id)
    try:
        image = process_cover(data)
    except CoverRefused as exc:
        raise ValidationFailed.field("cover", str(exc)) from exc
    cover = db.session.get(EventCover, event.id) or EventCover(event_id=event.id)
    cover.image, cover.content_type = image, "image/jpeg"
    cover.etag = hashlib.sha256(image).hexdigest()[:32]
    db.session.add(cover)
    db.session.commit()
    return cover


def remove_cover(actor, event_id: int) -> None:
    event = get_event_for_organizer(actor, event_id)
    cover = db.session.get(EventCover, event.id)
    if cover is not None:
        db.session.delete(cover)
        db.session.commit()


def cover_etag(event: Event) -> str | None:
    """The cover's ETag, or None without a cover (without loading the image)."""
    return db.session.scalar(select(EventCover.etag).where(EventCover.event_id == event.id))


def get_cover(event: Event) -> EventCover | None:
    return db.session.get(EventCover, event.id)
