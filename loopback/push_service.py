"""A fake Web Push service (RFC 8030) on loopback, checking each request as FCM, Mozilla's and
Apple's do, and decrypting it as the browser would.

The push services are a third party the tests cannot reach, so this stands in for them, from
their documented rules: the VAPID JWT (RFC 8292) is verified against the public key the
subscription was made with, its ``aud`` must be the endpoint's origin and its ``exp`` within
24 hours; the body must be ``Content-Encoding: aes128gcm`` (RFC 8188/8291) and ``TTL`` present.
A request that breaks a rule is refused as they refuse it (400, 401 or 403) and noted in
``refused``. Each device is what a browser makes: a P-256 key pair and a 16-byte auth secret;
every payload is decrypted with the device's private key (http_ece) and kept as JSON.

A device can be told to answer 404/410 (gone), 413 (too large) or 429 with Retry-After, or
to hang (never answer). A push is noted as not ``answered`` when its sender had given up
(closed the connection at its timeout) before the service took it."""
import asyncio
import base64
import hashlib
import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import http_ece
import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from soonish.domain.push import new_vapid_key, vapid_public_key

from .sinks import LoopbackServer

MAX_JWT_LIFETIME = 24 * 3600
HANG_SECONDS = 5
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
# The suite's VAPID key (SOONISH_VAPID_PRIVATE_KEY in the push tests' apps).
TEST_VAPID_KEY = new_vapid_key()


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Device:
    """A browser's side of one push subscription."""

    token: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes
    endpoint: str

    @classmethod
    def derived(cls, seed: str, number: int, origin: str) -> "Device":
        """Device ``number`` of a set both a benchmark's seeding and its push service make from
        ``seed`` alone (10,000 browsers' keys need not travel between processes)."""
        digest = hashlib.sha256(f"{seed}:{number}".encode()).digest()
        scalar = int.from_bytes(digest, "big") % (P256_ORDER - 1) + 1
        auth = hashlib.sha256(f"{seed}:{number}:auth".encode()).digest()[:16]
        token = f"d{number}"
        return cls(token, ec.derive_private_key(scalar, ec.SECP256R1()), auth, f"{origin}/push/{token}")

    @property
    def p256dh(self) -> str:
        return b64url(self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))

    def subscription(self) -> dict:
        """What ``PushSubscription.toJSON()`` gives the page."""
        return {"endpoint": self.endpoint, "expirationTime": None, "keys": {"p256dh": self.p256dh, "auth": b64url(self.auth)}}


@dataclass
class Push:
    token: str
    headers: dict
    payload: dict
    received_at: float = field(default_factory=time.monotonic)
    # Whether its sender still waited for the answer when the service took it: a push taken
    # after the sender's timeout was never answered 201 to it, and the sender rightly sends it
    # again (the device shows the two as one, by the notification's tag).
    answered: bool = True


@dataclass
class FakePushService:
    vapid_public_key: str = vapid_public_key(TEST_VAPID_KEY)  # what subscriptions were made with
    host: str = "127.0.0.1"
    port: int = 0
    devices: dict[str, Device] = field(default_factory=dict)
    pushes: list[Push] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # why requests were refused
    # A device's token -> (status, Retry-After) it answers instead of 201; or "hang".
    answers: dict[str, tuple[int, str | None] | str] = field(default_factory=dict)
    # A benchmark's devices: "d<n>" is Device.derived(seed, n) (made on its first push).
    seed: str | None = None
    # Called with each push taken (a benchmark's tally); with it set, pushes are not kept.
    on_push: Callable[[Push], None] | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    def new_device(self) -> Device:
        token = uuid.uuid4().hex
        device = Device(token, ec.generate_private_key(ec.SECP256R1()), os.urandom(16), f"{self.origin}/push/{token}")
        with self._lock:
            self.devices[token] = device
        return device

    def received(self, token: str | None = None) -> list[Push]:
        with self._lock:
            return [p for p in self.pushes if token is None or p.token == token]

    def clear(self) -> None:
        with self._lock:
            self.pushes.clear()
            self.refused.clear()
            self.answers.clear()

    def _device(self, token: str) -> Device | None:
        if token not in self.devices and self.seed and token.startswith("d") and token[1:].isdigit():
            self.devices[token] = Device.derived(self.seed, int(token[1:]), self.origin)
        return self.devices.get(token)

    def _refuse(self, status: int, why: str) -> web.Response:
        with self._lock:
            self.refused.append(why)
        return web.Response(status=status, text=why)

    def _check_vapid(self, authorization: str) -> str | None:
        """Why the Authorization header fails RFC 8292, or None."""
        scheme, _, params = authorization.partition(" ")
        values = dict(part.strip().split("=", 1) for part in params.split(",") if "=" in part)
        if scheme.lower() != "vapid" or "t" not in values or "k" not in values:
            return "Authorization is not vapid t=..., k=..."
        if values["k"] != self.vapid_public_key:
            return "k is not the key the subscription was made with"
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(values["k"]))
        try:
            claims = jwt.decode(values["t"], public, algorithms=["ES256"], audience=self.origin,
                                options={"require": ["aud", "exp", "sub"]})
        except jwt.InvalidTokenError as exc:
            return f"JWT refused: {exc}"
        if claims["exp"] > time.time() + MAX_JWT_LIFETIME:
            return "JWT exp is more than 24 hours ahead"
        if not str(claims["sub"]).startswith(("mailto:", "https:")):
            return "JWT sub is not a mailto: or https: contact"
        return None

    async def _handle(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        body = await request.read()
        answer = self.answers.get(token)
        if answer == "hang":  # past any client's timeout in the tests, short of the server's shutdown
            await asyncio.sleep(HANG_SECONDS)
        why = self._check_vapid(request.headers.get("Authorization", ""))
        if why:
            return self._refuse(403, why)
        if request.headers.get("Content-Encoding") != "aes128gcm":
            return self._refuse(400, "Content-Encoding is not aes128gcm")
        if not request.headers.get("TTL", "").isdigit():
            return self._refuse(400, "TTL is missing")
        device = self._device(token)
        if device is None:
            return web.Response(status=404, text="no such subscription")
        if isinstance(answer, tuple):
            status, retry_after = answer
            return web.Response(status=status, headers={"Retry-After": retry_after} if retry_after else {})
        try:
            plain = http_ece.decrypt(body, private_key=device.private_key, auth_secret=device.auth, version="aes128gcm")
            payload = json.loads(plain)
        except Exception as exc:  # noqa: BLE001 - any failure to decrypt is the sender's fault
            return self._refuse(400, f"payload does not decrypt: {type(exc).__name__}")
        gave_up = request.transport is None or request.transport.is_closing()
        pushed = Push(token, dict(request.headers), payload, answered=not gave_up)
        if self.on_push is not None:
            self.on_push(pushed)
        else:
            with self._lock:
                self.pushes.append(pushed)
        return web.Response(status=201, headers={"Location": f"{self.origin}/message/{uuid.uuid4().hex}"})

    def application(self) -> web.Application:
        # Push services take 4096-byte payloads; a body far past that is refused (413).
        app = web.Application(client_max_size=8192)
        app.router.add_post("/push/{token}", self._handle)
        return app

    def start(self) -> "FakePushService":
        """Serve on a loopback port of its own, from a thread (the tests' way)."""
        self._server = LoopbackServer(self.application(), "fake-push-service")
        self.port = self._server.port
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()
