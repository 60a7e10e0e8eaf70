"""The DKIM signing cost per mail (issue 27): a broadcast-sized mail (text and HTML, the
one-click unsubscribe headers) flattened as the SMTP transport sends it, unsigned and signed with
a 2048-bit RSA key (dkimpy, relaxed/relaxed, the headers Soonish signs). CPU time per mail, so a
busy machine changes the figure less than wall time would.

    .venv/bin/python bench/dkim_signing.py [--mails 500]   (not bench/dkim.py: run as a script, that name hid the dkim package from every bench)

Prints one RESULT line: unsigned and signed CPU µs per mail, the signature's share, and what it
adds to a 10,000-mail broadcast on one core.
"""
import argparse
import statistics
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from soonish.domain.delivery.mail import compose_mail
from soonish.domain.delivery.mail_signing import DkimKey
from soonish.domain.delivery.transports.smtp import signed_bytes
from soonish.domain.messages import Message

PARAGRAPH = "Launch night moves to 8 pm: doors at 7:30, the talk at 8, drinks after. " * 6


def mail(i: int):
    message = Message(
        delivery_key=f"soonish-{i}", title="Update: Launch night moves to 8 pm",
        text="\n\n".join([PARAGRAPH] * 4), short="Launch night moves to 8 pm",
        html="".join(f"<p>{PARAGRAPH}</p>" for _ in range(4)),
        unsubscribe_url=f"https://soonish.example/s/unsubscribe/token-{i}",
    )
    return compose_mail(message, "Launch night <no-reply@soonish.example>", f"follower{i}@example.com")


def per_mail(mails: int, sign) -> float:
    """Median CPU µs per mail over 5 rounds."""
    rounds = []
    for _ in range(5):
        built = [mail(i) for i in range(mails)]
        start = time.process_time()
        for m in built:
            sign(m)
        rounds.append((time.process_time() - start) / mails * 1e6)
    return statistics.median(rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=500)
    args = parser.parse_args()
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
    key = DkimKey("s2026", "soonish.example", pem)

    unsigned = per_mail(args.mails, lambda m: m.as_bytes())
    signed = per_mail(args.mails, lambda m: signed_bytes(m, key))
    size = len(signed_bytes(mail(0), key))
    print(f"RESULT dkim mails={args.mails} bytes={size} unsigned_us={unsigned:.0f} signed_us={signed:.0f} "
          f"signing_us={signed - unsigned:.0f} per_10000_mails_s={(signed - unsigned) * 10000 / 1e6:.1f}")


if __name__ == "__main__":
    main()
