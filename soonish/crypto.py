"""Field encryption with Fernet keys, newest first (MultiFernet). Knows nothing of Flask."""
import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

__all__ = ["FieldCipher", "InvalidToken", "new_key"]


def new_key() -> str:
    return Fernet.generate_key().decode()


def key_from_secret(secret: str) -> str:
    """A Fernet key derived from the app's secret, for development setups that set no keys."""
    digest = hashlib.sha256(b"soonish-field-encryption:" + secret.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


class FieldCipher:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is needed")
        self._fernet = MultiFernet([Fernet(key.strip().encode()) for key in keys])

    @classmethod
    def from_setting(cls, setting: str, fallback_secret: str) -> "FieldCipher":
        """``setting`` is comma-separated keys, newest first; empty means derive one from the secret."""
        keys = [k for k in setting.split(",") if k.strip()] if setting else []
        return cls(keys or [key_from_secret(fallback_secret)])

    def encrypt(self, plain: str) -> bytes:
        return self._fernet.encrypt(plain.encode())

    def decrypt(self, token: bytes) -> str:
        return self._fernet.decrypt(bytes(token)).decode()

    def rotate(self, token: bytes) -> bytes:
        """Re-encrypt with the newest key (whatever key the token was made with)."""
        return self._fernet.rotate(bytes(token))
