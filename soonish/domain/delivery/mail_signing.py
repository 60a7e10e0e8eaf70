"""DKIM signatures (RFC 6376) on outgoing mail, made with dkimpy: relaxed/relaxed, rsa-sha256, over
the headers Gmail's and Yahoo's bulk-sender rules look at (From, To, Subject, Date, Message-ID,
the MIME headers, and List-Unsubscribe with List-Unsubscribe-Post, which RFC 8058 requires to be
signed for one-click unsubscribe). A deployment that sends straight to MX, or through a relay
that does not sign, is authenticated this way; README "Mail reputation" has the DNS records."""
from dataclasses import dataclass

import dkim

SIGNED_HEADERS = [
    b"from", b"to", b"cc", b"reply-to", b"subject", b"date", b"message-id", b"mime-version", b"content-type",
    b"content-transfer-encoding", b"list-unsubscribe", b"list-unsubscribe-post",
]


@dataclass(frozen=True)
class DkimKey:
    selector: str
    domain: str
    private_key: bytes  # PEM

    @classmethod
    def from_config(cls, config, sender: str) -> "DkimKey | None":
        """SOONISH_DKIM_SELECTOR and SOONISH_DKIM_PRIVATE_KEY (the PEM itself, or a path to it);
        the signing domain is SOONISH_DKIM_DOMAIN or the sender's. None unless both are set."""
        selector, key = config.get("DKIM_SELECTOR", ""), config.get("DKIM_PRIVATE_KEY", "")
        if not selector or not key:
            return None
        pem = key.encode() if "-----BEGIN" in key else open(key, "rb").read()
        domain = config.get("DKIM_DOMAIN") or sender.rsplit("@", 1)[-1].strip(">").strip()
        return cls(selector, domain, pem)


def dkim_sign(data: bytes, key: DkimKey) -> bytes:
    """``data`` (a whole mail, CRLF line ends) with its DKIM-Signature header in front."""
    signature = dkim.sign(data, key.selector.encode(), key.domain.encode(), key.private_key,
                          canonicalize=(b"relaxed", b"relaxed"), include_headers=SIGNED_HEADERS)
    return signature + data
