"""Refuses delivery targets on loopback, private, link-local and metadata addresses (SSRF).

Checked when an integration is saved and again right before each send, since DNS can change.
Our own HTTP fast path also connects only through ``GuardedResolver``, so a name that resolves
to a public address at check time cannot be re-pointed at a private one for the connection.
"""
import ipaddress
import socket

from aiohttp.abc import AbstractResolver
from aiohttp.resolver import DefaultResolver

# Cloud metadata services answer on these even where they are not link-local.
METADATA_HOSTS = {"metadata.google.internal", "metadata", "instance-data"}


class PrivateTargetRefused(ValueError):
    pass


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve(host: str) -> list[str]:
    """Every address ``host`` resolves to; [] when it does not resolve."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, OSError):
        return []
    return sorted({info[4][0] for info in infos})


def check_host(host: str | None, allow_private: bool) -> None:
    """Raise PrivateTargetRefused when ``host`` is, or resolves to, a non-public address.

    A name that does not resolve is not refused: Apprise puts service tokens (a Discord webhook
    id, an ntfy topic) where the host goes, and those services send to their own fixed hosts.
    """
    if allow_private or not host:
        return
    name = host.strip("[]").lower()
    if name in METADATA_HOSTS or name == "localhost" or name.endswith(".localhost"):
        raise PrivateTargetRefused(f"{host} is a private address")
    for address in resolve(name):
        if not is_public_address(address):
            raise PrivateTargetRefused(f"{host} resolves to a private address")


class GuardedResolver(AbstractResolver):
    """aiohttp resolver that drops non-public addresses unless private targets are allowed."""

    def __init__(self, allow_private: bool) -> None:
        self._inner = DefaultResolver()
        self._allow_private = allow_private

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET):
        results = await self._inner.resolve(host, port, family)
        if self._allow_private:
            return results
        public = [r for r in results if is_public_address(r["host"])]
        if not public:
            raise PrivateTargetRefused(f"{host} resolves to a private address")
        return public

    async def close(self) -> None:
        await self._inner.close()



