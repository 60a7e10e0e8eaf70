"""The bounce corpus (tests/bounces/, one real-world format per file, written after notices those
systems send; see tests/bounces/README.md): each read as a hard bounce, a soft one, a complaint,
or no bounce at all, with the address it names and why."""
from pathlib import Path

import pytest

from soonish.domain.bounces import kind_of_status, parse_bounce
from soonish.models import BounceKind

CORPUS = Path(__file__).resolve().parent.parent / "bounces"
HARD, SOFT, COMPLAINT = BounceKind.HARD, BounceKind.SOFT, BounceKind.COMPLAINT

# file: (kind or None for "not a bounce", the address it names, its status, words of the reason)
EXPECTED = {
    "gmail_no_such_user": (HARD, "nobody.here.4821@gmail.com", "5.1.1", "mailbox does not exist"),
    "gmail_over_quota": (SOFT, "full.inbox.77@gmail.com", "5.2.2", "mailbox is full"),
    "office365_recipient_not_found": (HARD, "gone.person@contoso.com", "5.1.10", "mailbox does not exist"),
    "outlookcom_mailbox_unavailable": (HARD, "old.account.1999@hotmail.com", "5.5.0", "mailbox unavailable"),
    "exchange55_recipient_not_recognized": (HARD, "jsmith@fabrikam.example", "", "could not be delivered"),
    "yahoo_no_account": (HARD, "no.such.yahoo.user.5150@yahoo.com", "554", "doesn't have a yahoo.com account"),
    "yahoo_mailbox_disabled": (HARD, "dormant.member@yahoo.com", "554", "mailbox is disabled"),
    "postfix_user_unknown": (HARD, "left.long.ago@example.net", "5.1.1", "User unknown"),
    "postfix_expired_in_queue": (SOFT, "someone@unreachable.example", "4.4.1", "Connection timed out"),
    "exim_user_unknown": (HARD, "moved.away@example.com", "5.1.1", "mailbox does not exist"),
    "exim_dsn_mailbox_full": (SOFT, "no.room@example.com", "5.2.2", "Mailbox full"),
    "qmail_no_mailbox": (HARD, "nobody@example.info", "5.1.1", "no mailbox here"),
    "qmail_remote_timeout": (SOFT, "friend@slow.example", "4.4.1", "establish an SMTP connection"),
    "sendmail_user_unknown": (HARD, "graduated@example.edu", "5.1.1", "User unknown"),
    "amazonses_dsn_user_unknown": (HARD, "invalid.person@example.org", "5.1.1", "user unknown"),
    "yahoo_arf_complaint": (COMPLAINT, "annoyed.reader@yahoo.com", "", "reported as spam"),
    "isp_arf_complaint_redacted": (COMPLAINT, "redacted@example-isp.net", "", "reported as spam"),
    "microsoft_jmrp_complaint": (COMPLAINT, "tired.of.updates@outlook.com", "", "reported as spam"),
    "postfix_delayed_warning": (None, None, None, None),
    "postfix_relay_delivered": (None, None, None, None),
    "outlook_out_of_office": (None, None, None, None),
    "gmail_vacation_reply": (None, None, None, None),
}


def test_every_file_of_the_corpus_has_its_expectation():
    assert {path.stem for path in CORPUS.glob("*.eml")} == set(EXPECTED)
    assert len(EXPECTED) >= 15


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_format_is_read_as_what_it_is(name):
    kind, address, status, words = EXPECTED[name]
    report = parse_bounce((CORPUS / f"{name}.eml").read_bytes())
    assert report.kind == kind
    if kind is None:
        assert report.returned == []
        return
    [returned] = report.returned
    assert returned.address.lower() == address
    assert returned.status == status
    assert words.lower() in returned.reason.lower()


def test_the_returned_mails_return_path_is_read_from_the_quoted_headers():
    # A feedback report goes to the address the provider registered, not always the return path:
    # the VERP address in the quoted mail still names the delivery.
    report = parse_bounce((CORPUS / "isp_arf_complaint_redacted.eml").read_bytes())
    assert "bounces+d57-p9m4x3c8k2wqzb7t@bounces.soonish.test" in report.quoted_senders
    report = parse_bounce((CORPUS / "yahoo_no_account.eml").read_bytes())
    assert "bounces+d46-p8x3k7m2c9qzw4bv@bounces.soonish.test" in report.quoted_senders


def test_a_feedback_report_names_the_returned_mails_delivery_keys_and_its_envelope_sender():
    jmrp = parse_bounce((CORPUS / "microsoft_jmrp_complaint.eml").read_bytes())
    assert jmrp.quoted_keys == ["soonish-58"]  # X-Soonish-Delivery and the Message-ID agree
    assert not any(s.startswith("bounces+") for s in jmrp.quoted_senders)  # no return path in its copy
    # ARF's Original-Mail-From is the envelope sender: our return path, even when the copy
    # is cut to a few headers.
    yahoo = (CORPUS / "yahoo_arf_complaint.eml").read_bytes()
    cut = yahoo.replace(b"Return-Path: <bounces+d56-c4x9m3k8p2wqzb7v@bounces.soonish.test>\n", b"")
    assert "bounces+d56-c4x9m3k8p2wqzb7v@bounces.soonish.test" in parse_bounce(cut).quoted_senders


@pytest.mark.parametrize("status, kind", [
    ("5.1.1", HARD), ("5.0.0", HARD), ("550", HARD), ("4.2.2", SOFT), ("4.4.7", SOFT), ("5.2.2", SOFT), ("552", SOFT),
])
def test_a_status_class_decides_hard_or_soft_but_a_full_mailbox_is_soft(status, kind):
    assert kind_of_status(status) == kind


def test_garbage_is_no_bounce():
    assert parse_bounce(b"\x00\xff not a mail at all").kind is None
    assert parse_bounce(b"").kind is None
