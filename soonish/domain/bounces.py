"""Reading what comes back to the bounce address: a delivery status notification (RFC 3464), a
complaint (an ARF feedback report, RFC 5965), one of the older formats that predate DSNs (qmail,
Exchange 5.5, Yahoo's and others' plain-text notices), or something that is no bounce at all (an
out-of-office reply, a "delayed, still trying" warning).

Standard reports are read here field by field (each recipient's Action, Status and
Diagnostic-Code); the non-standard ones through ``flufl.bounce``'s detectors (GNU Mailman's,
maintained, 17 formats), whose verdict a status code in the notice's own text overrides. Pure:
bytes in, a report out; the rules of what a bounce does live in ``mail_reputation``.
"""
import email
import logging
import re
from dataclasses import dataclass, field
from email.message import Message
from email.utils import getaddresses, parseaddr

from flufl.bounce import all_failures

from soonish.models.mail_reputation import BounceKind
from soonish.domain.privacy import mask_address

log = logging.getLogger(__name__)

# "5.1.1", "4.2.2" (RFC 3463), and a bare SMTP reply code ("550", "452").
_ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_ADDRESS = re.compile(r"[^\s<>()\"',;:\[\]]+@[^\s<>()\"',;:\[\]]+")
_REPLY = re.compile(r"(?<![\d.:])([45]\d\d)(?=(?:[ -]|: )[^\d])")
# Where a plain-text notice stops describing and starts quoting the returned mail.
_QUOTE_STARTS = re.compile(
    r"^\s*-{2,}.*(copy of the message|original message|message follows|returned message|undelivered message"
    r"|headers of the message|below this line)", re.IGNORECASE | re.MULTILINE)
_AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[ -]?reply|autosvar|abwesenheit|out of (the )?office|vacation|absence)", re.IGNORECASE)

# What a status says, for people (RFC 3463 subjects; the common details by name).
_STATUS_WORDS = {
    "1.1": "mailbox does not exist", "1.10": "mailbox does not exist", "1.2": "the domain does not exist",
    "1.3": "the address is malformed", "1.6": "the mailbox has moved", "2.1": "the mailbox is disabled",
    "2.2": "the mailbox is full", "4.1": "the recipient's server did not answer",
    "4.4": "no mail server for the domain", "4.7": "delivery timed out", "7.1": "refused by the recipient's policy",
}
_CLASS_WORDS = {"1": "the address was refused", "2": "the mailbox refused it", "3": "the recipient's mail system failed",
                "4": "the recipient's server could not be reached", "5": "refused by the recipient's server",
                "6": "the content was refused", "7": "refused by the recipient's policy"}
DIAGNOSTIC_MAX = 160


@dataclass(frozen=True)
class Returned:
    """One recipient a report names: what happened to mail to ``address``."""

    address: str  # "" when the report names none we could read
    kind: BounceKind
    status: str  # "5.1.1", or a reply code ("550"), or "" when it gave none
    reason: str  # for people: "mailbox does not exist (550 5.1.1 user unknown)"


@dataclass(frozen=True)
class BounceReport:
    """What a message to the bounce address says: the recipients it reports on (none: not a
    bounce), the addresses the returned mail was sent from (our VERP return path, when the
    report quotes it: feedback reports and some DSNs are addressed elsewhere), and the delivery
    keys the returned mail carried (its Message-ID's and X-Soonish-Delivery's ``soonish-<id>``),
    for a report that quotes no return path."""

    returned: list[Returned] = field(default_factory=list)
    quoted_senders: list[str] = field(default_factory=list)
    quoted_keys: list[str] = field(default_factory=list)

    @property
    def kind(self) -> BounceKind | None:
        kinds = {r.kind for r in self.returned}
        for kind in (BounceKind.COMPLAINT, BounceKind.HARD, BounceKind.SOFT):
            if kind in kinds:
                return kind
        return None


def kind_of_status(status: str) -> BounceKind:
    """5.x.x is hard, 4.x.x soft; a full mailbox (x.2.2) is soft whatever its class, as Amazon SES
    and Postmark count it: the person exists, and mail may arrive once they make room."""
    if status.startswith("4") or re.fullmatch(r"5\.2\.2|552", status):
        return BounceKind.SOFT
    return BounceKind.HARD


def status_words(status: str) -> str:
    match = re.fullmatch(r"[245]\.(\d{1,3})\.(\d{1,3})", status)
    if match:
        subject, detail = match.groups()
        return _STATUS_WORDS.get(f"{subject}.{detail}") or _CLASS_WORDS.get(subject, "it was refused")
    if status in ("550", "551", "553", "554"):
        return "the recipient's server refused it"
    if status == "552":
        return "the mailbox is full"
    return "it could not be delivered"


def reason_for(status: str, diagnostic: str) -> str:
    """For people, organizers among them: what the status means, and the server's words with
    any address in them masked."""
    words = status_words(status)
    diagnostic = _ADDRESS.sub(lambda m: mask_address(m.group(0)), " ".join(diagnostic.split()))
    diagnostic = re.sub(r"^smtp;\s*", "", diagnostic, flags=re.IGNORECASE)
    if diagnostic:
        words = f"{words} ({diagnostic[:DIAGNOSTIC_MAX]})"
    return words


def parse_bounce(raw: bytes) -> BounceReport:
    message = email.message_from_bytes(raw)
    quoted, keys = _quoted_senders(message), _quoted_keys(message)
    if _report_type(message) == "feedback-report":
        return BounceReport(_complaints(message), quoted, keys)
    statuses = [part for part in message.walk() if part.get_content_type() == "message/delivery-status"]
    if statuses:
        # A DSN: its fields decide, a "delayed" or "delivered" one is no bounce.
        return BounceReport(_dsn_failures(statuses), quoted, keys)
    if _is_auto_reply(message):
        return BounceReport([], quoted, keys)
    return BounceReport(_detected_failures(message), quoted, keys)


def _report_type(message: Message) -> str:
    if message.get_content_type() != "multipart/report":
        return ""
    return (message.get_param("report-type") or "").lower()


def _header_blocks(part: Message) -> list[Message]:
    payload = part.get_payload()
    return [block for block in payload if isinstance(block, Message)] if isinstance(payload, list) else []


def _recipient(block: Message) -> str:
    """A DSN recipient block's address: Original-Recipient (what we sent to) before
    Final-Recipient (where it ended, after forwarding), as "rfc822; ann@example.com"."""
    for name in ("Original-Recipient", "Final-Recipient", "X-Actual-Recipient"):
        value = block.get(name, "")
        kind, _, address = value.partition(";")
        if address and kind.strip().lower() == "rfc822":
            address = parseaddr(address.strip())[1] or address.strip().strip("<>")
            if "@" in address:
                return address
    return ""


def _dsn_failures(parts: list[Message]) -> list[Returned]:
    returned = []
    for part in parts:
        for block in _header_blocks(part)[1:]:  # the first block is about the message, the rest one per recipient
            action = block.get("Action", "").strip().lower()
            if not action.startswith(("failed", "error")):  # delayed, delivered, relayed, expanded
                continue
            diagnostic = block.get("Diagnostic-Code", "")
            status = first_status(block.get("Status", ""))
            if not status or status.endswith(".0.0"):  # Exim says 5.0.0 and leaves the detail to the server's words
                status = first_status(diagnostic) or status
            kind = kind_of_status(status) if status else BounceKind.HARD
            returned.append(Returned(_recipient(block), kind, status, reason_for(status, diagnostic)))
    return returned


def _feedback_fields(message: Message) -> list[Message]:
    """The field blocks of an ARF report's machine-readable part (message/feedback-report)."""
    blocks = []
    for part in message.walk():
        if part.get_content_type() == "message/feedback-report":
            blocks += _header_blocks(part) or [email.message_from_string(part.get_payload() or "")]
    return blocks


def _complaints(message: Message) -> list[Returned]:
    """An ARF report: the complained-of recipient is Original-Rcpt-To, or else in the returned
    mail Microsoft JMRP's X-HmXmrOriginalRecipient or its To (providers often redact it: then
    the VERP return path alone names them)."""
    addresses = []
    feedback_type = "abuse"
    for block in _feedback_fields(message):
        feedback_type = block.get("Feedback-Type", feedback_type).strip().lower()
        addresses += [parseaddr(v)[1] for v in block.get_all("Original-Rcpt-To", [])]
    original = _returned_headers(message)
    for name in ("X-HmXmrOriginalRecipient", "To"):
        if not addresses and original is not None:
            addresses = [a for _, a in getaddresses(original.get_all(name, [])) if "@" in a]
    if feedback_type == "not-spam":
        return []
    reason = f"reported as spam ({feedback_type} feedback report)"
    return [Returned(address, BounceKind.COMPLAINT, "", reason) for address in addresses or [""]]


def _returned_headers(message: Message) -> Message | None:
    """The returned mail (message/rfc822) or its headers (text/rfc822-headers) inside a report."""
    for part in message.walk():
        content_type = part.get_content_type()
        if content_type == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and payload:
                return payload[0]
        if content_type == "text/rfc822-headers":
            return email.message_from_string(part.get_payload(decode=True).decode("utf-8", "replace"))
    return None


def _quoted_senders(message: Message) -> list[str]:
    """Return-Path, Sender and From of the mail a report returns (where our VERP address shows
    when the report went to another address), an ARF report's Original-Mail-From (the envelope
    sender), and, in a plain-text notice, any address after "Return-Path:" in the quoted copy."""
    senders = [parseaddr(v)[1] for block in _feedback_fields(message) for v in block.get_all("Original-Mail-From", [])]
    original = _returned_headers(message)
    if original is not None:
        for name in ("Return-Path", "Sender", "From"):
            senders += [address for _, address in getaddresses(original.get_all(name, [])) if address]
    for text in _top_texts(message, whole=True):
        senders += re.findall(r"^Return-Path:\s*<?([^>\s]+)>?", text, flags=re.IGNORECASE | re.MULTILINE)
    return list(dict.fromkeys(senders))


def _quoted_keys(message: Message) -> list[str]:
    """The delivery keys the returned mail carried: X-Soonish-Delivery, and our Message-ID's
    local part (``<soonish-58@soonish.test>``), also as a DSN's X-Original-Message-ID."""
    original = _returned_headers(message)
    if original is None:
        return []
    keys = [str(v).strip() for v in original.get_all("X-Soonish-Delivery", [])]
    for name in ("Message-ID", "X-Original-Message-ID"):
        keys += [parseaddr(str(v))[1].partition("@")[0] for v in original.get_all(name, [])]
    return list(dict.fromkeys(k for k in keys if k.startswith("soonish-")))


def _top_texts(message: Message, whole: bool = False) -> list[str]:
    """The notice's own words: its text parts outside any returned message, cut (unless
    ``whole``) where a plain-text notice starts quoting the mail."""
    texts = []
    stack = [message]
    while stack:
        part = stack.pop(0)
        if part.get_content_type() == "message/rfc822":
            continue
        if part.is_multipart():
            stack = [p for p in part.get_payload() if isinstance(p, Message)] + stack
        elif part.get_content_maintype() == "text" and part.get_content_type() != "text/rfc822-headers":
            body = part.get_payload(decode=True) or b""
            text = body.decode(part.get_content_charset() or "utf-8", "replace")
            if not whole:
                cut = _QUOTE_STARTS.search(text)
                text = text[: cut.start()] if cut else text
            texts.append(text)
    return texts


def _is_auto_reply(message: Message) -> bool:
    """An out-of-office or vacation reply. Not by Auto-Submitted: RFC 3834 has bounces say
    "auto-replied" too."""
    if message.get("X-Autoreply") or message.get("X-Autorespond"):
        return True
    return bool(_AUTO_REPLY_SUBJECT.match(str(message.get("Subject", ""))))


def first_status(text: str) -> str:
    match = _ENHANCED.search(text)
    if match:
        return ".".join(match.groups())
    reply = _REPLY.search(text)
    return reply.group(1) if reply else ""


def _detected_failures(message: Message) -> list[Returned]:
    """A notice in one of the older formats: flufl.bounce names the addresses and whether the
    failure is temporary or permanent; a status code next to the address in the notice's text
    (or anywhere in it) says why, and its class overrides that verdict."""
    try:
        temporary, permanent = all_failures(message)
    except Exception:  # a detector meeting input it never expected (Yale's: a mail with no From)
        log.warning("bounce detectors failed on a message; taken as no bounce", exc_info=True)
        return []
    if not temporary and not permanent:
        return []
    text = "\n".join(_top_texts(message))
    returned = []
    for addresses, verdict in ((permanent, BounceKind.HARD), (temporary, BounceKind.SOFT)):
        for raw in sorted(addresses):
            address = raw.decode("ascii", "replace")
            near = _text_near(text, address)
            status = first_status(near) or first_status(text)
            kind = kind_of_status(status) if status else verdict
            returned.append(Returned(address, kind, status, reason_for(status, _diagnostic_line(near, status))))
    return returned


def _text_near(text: str, address: str) -> str:
    """The notice's lines from the address on (the few that explain its failure)."""
    at = text.lower().find(address.lower())
    if at < 0:
        return text
    return "\n".join(text[at:].splitlines()[:8])


def _diagnostic_line(text: str, status: str) -> str:
    if not status:
        return ""
    for line in text.splitlines():
        if status in line:
            return line.strip()
    return ""
