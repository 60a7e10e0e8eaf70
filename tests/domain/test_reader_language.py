"""Every reader's language: one notification rendered for each follower in theirs, with Babel's
dates, once per language however many read it. A database, no Temporal."""
from datetime import datetime, timezone

from soonish.domain import chat_buttons
from soonish.domain.delivery import planning, reminders
from soonish.domain.messages import NotificationText, reader_locale
from soonish.models import Subscription, User, db
from soonish.services import subscriptions as subscription_service

# A Monday in winter: 19:00 in Paris is 18:00 UTC.
STARTS_AT = datetime(2030, 12, 16, 18, 0, tzinfo=timezone.utc)


def follower(event, email: str, locale: str) -> Subscription:
    subscription = Subscription(event=event, user=User(email=email), reminder_offsets=[3600], locale=locale)
    db.session.add(subscription)
    db.session.commit()
    return subscription


def test_a_german_and_a_spanish_follower_each_get_the_reminder_in_their_language(event, cipher, monkeypatch):
    event.starts_at = STARTS_AT
    db.session.commit()
    followers = [follower(event, f"de{n}@example.com", "de") for n in range(3)]
    followers += [follower(event, f"es{n}@example.com", "es") for n in range(2)]
    [reminder] = reminders.make_notifications([reminders.Reminder(event.id, 3600, STARTS_AT)])
    rendered = []
    original = NotificationText.of.__func__
    monkeypatch.setattr(NotificationText, "of", classmethod(
        lambda cls, *args, **kwargs: rendered.append(args[4] if len(args) > 4 else kwargs["locale"])
        or original(cls, *args, **kwargs)))

    plan = planning.prepare_batch(reminder.id, followers[0].id, followers[-1].id, cipher)

    mails = {send.destination.email: send.message for send in plan.sends}
    german, spanish = mails["de0@example.com"], mails["es0@example.com"]
    # What a transport adds (push's buttons) is written in the message's language too.
    assert (german.locale, spanish.locale) == ("de", "es")
    assert german.title == "Erinnerung: Launch beginnt in 1 Stunde"
    assert "Wann: Mo., 16. Dez. 2030, 19:00 MEZ (Europe/Paris)" in german.text
    assert "Sie erhalten diese Nachricht, weil Sie dieser Veranstaltung auf Soonish folgen." in german.text
    assert "Erinnerungen verwalten</a>" in german.html and "<strong>Wann</strong>" in german.html
    assert spanish.title == "Recordatorio: Launch empieza dentro de 1 hora"
    assert "Cuándo: lun, 16 dic 2030, 19:00 CET (Europe/Paris)" in spanish.text
    assert "Recibes este mensaje porque sigues este evento en Soonish." in spanish.text
    # Rendered once per language, not once per follower; each mail has its own links.
    assert sorted(rendered) == ["de", "es"]
    assert len({m.unsubscribe_url for m in mails.values()}) == 5
    # The notification itself keeps the English it was made with (the organizer's view).
    assert reminder.title == "Reminder: Launch starts in 1 hour"


def test_a_follower_without_a_language_of_their_own_reads_their_accounts_then_english(event):
    anonymous = follower(event, "anon@example.com", None)
    assert reader_locale(anonymous) == "en"
    anonymous.user.locale = "pt_BR"
    assert reader_locale(anonymous) == "pt_BR"
    anonymous.locale = "fr"  # chosen on the manage page
    assert reader_locale(anonymous) == "fr"


def test_a_british_follower_reads_english_with_british_dates(event, cipher):
    event.starts_at = STARTS_AT
    db.session.commit()
    british = follower(event, "gb@example.com", "en_GB")  # followed from a page asked for in en-GB
    [reminder] = reminders.make_notifications([reminders.Reminder(event.id, 3600, STARTS_AT)])

    [send] = planning.prepare_batch(reminder.id, british.id, british.id, cipher).sends

    assert send.message.title == "Reminder: Launch starts in 1 hour"
    assert "When: Mon, 16 Dec 2030, 19:00 CET (Europe/Paris)" in send.message.text


def test_the_answer_buttons_under_a_chat_post_are_in_its_readers_language():
    [row] = chat_buttons.discord_components(3, locale="fr")
    assert [button["label"] for button in row["components"]] == ["J'y vais", "Peut-être", "Je ne peux pas"]
    blocks = chat_buttons.slack_blocks("…", 3, still_coming=True, locale="pt_BR")
    assert [button["text"]["text"] for button in blocks[1]["elements"]] == ["Sim, ainda vou", "Não vou conseguir ir"]


def test_choosing_the_language_already_read_on_the_manage_page_keeps_its_region(event):
    british = follower(event, "gb2@example.com", "en_GB")
    subscription_service.set_offsets(british, "1h", "en")
    assert british.locale == "en_GB"
    subscription_service.set_offsets(british, "1h", "de")
    assert british.locale == "de"
