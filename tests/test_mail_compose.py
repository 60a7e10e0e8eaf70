"""The quick mail builder (compat32 classes) makes the same mail as the full EmailMessage one."""
from email import policy
from email.parser import BytesParser

import pytest

from soonish.domain.delivery import Message, compose_mail
from soonish.domain.delivery.mail import _fast_mail, _full_mail
from soonish.domain.messages import Attachment

CASES = [
    Message("soonish-1", "Doors open at 7", "Hello\nWhen: x\nhttp://x/" + "a" * 100 + "\n", "s",
            html="<p>hi</p>", unsubscribe_url="http://x/u/" + "t" * 90),
    Message("soonish-2", "Fête à 19h — «ok»", "Bonjour é\nligne\n", "s", html="<p>é</p>" * 50,
            unsubscribe_url="http://x/u/t"),
    Message("soonish-3", "Plain only", "just text", "s"),
    Message("soonish-4", "x" * 190, "t\n", "s"),
    # What quoted-printable must escape or break: "=", trailing spaces and tabs, a lone dot, a
    # line starting "From ", a long line of accents.
    Message("soonish-6", "Odd text", "a=b  \nsoft\t\n.\nFrom here\n" + "é" * 120 + "\n", "s",
            html="<p style=\"x\">" + "ü" * 200 + " </p>"),
    Message("soonish-5", "With a ticket", "Hello\n", "s", html="<p>hi</p>", attachments=(
        Attachment("night.ics", "text/calendar; method=PUBLISH; charset=utf-8", b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"),)),
]
HEADERS = ["From", "To", "Subject", "Message-ID", "X-Soonish-Delivery", "List-Unsubscribe", "List-Unsubscribe-Post"]


def parsed(mail):
    wire = mail.as_bytes(policy=mail.policy.clone(linesep="\r\n"))
    assert max(len(line) for line in wire.split(b"\r\n")) <= 998
    return BytesParser(policy=policy.default).parsebytes(wire)


@pytest.mark.parametrize("sender", ["Soonish <no-reply@soonish.localhost>", "Sœnish Bot <bot@example.com>", "a@b.com"])
@pytest.mark.parametrize("message", CASES, ids=lambda m: m.delivery_key)
def test_quick_mail_reads_like_the_full_one(sender, message):
    quick, full = parsed(_fast_mail(message, sender, "to@example.com")), parsed(_full_mail(message, sender, "to@example.com"))
    for name in HEADERS:
        assert str(quick[name]) == str(full[name]), name
    assert quick.get_content_type() == full.get_content_type()
    assert len(quick.get_all("MIME-Version")) == 1
    for kind in ("plain", "html"):
        a, b = quick.get_body(preferencelist=(kind,)), full.get_body(preferencelist=(kind,))
        assert (a is None) == (b is None)
        if a is not None:
            assert a.get_content_type() == b.get_content_type()
            # Quoted-printable decodes with the wire's CRLF; the text is the same.
            assert a.get_content().replace("\r\n", "\n") == b.get_content().replace("\r\n", "\n")
    assert len(list(quick.iter_attachments())) == len(message.attachments)
    for a, b in zip(quick.iter_attachments(), full.iter_attachments(), strict=True):
        assert (a.get_content_type(), a.get_filename(), a.get_param("method"), a.get_payload(decode=True)) == (
            b.get_content_type(), b.get_filename(), b.get_param("method"), b.get_payload(decode=True))


def test_odd_input_takes_the_full_builder_and_line_breaks_in_headers_are_refused():
    assert _fast_mail(CASES[0], "a@b.com", "jösé@exämple.com") is None
    injected = Message("k", "Hi\r\nBcc: evil@example.com", "t", "s")
    assert _fast_mail(injected, "a@b.com", "c@d.com") is None
    with pytest.raises(ValueError):
        compose_mail(injected, "a@b.com", "c@d.com")
