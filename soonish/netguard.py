"""Refuses delivery targets on loopback, private, link-local and metadata addresses (SSRF).

Checked when an integration is saved and again right before each send, since DNS can change.
Our own HTTP fast path also connects only through ``GuardedResolver``, so a name that resolves
to a public address at check time cannot be re-pointed at a private one for the connection.

Cloud metadata services are refused always, even with private targets allowed: that setting is
for loopback and LAN development, and a metadata service hands out the machine's credentials.
"""
import ipaddress
import socket

from aiohttp.abc import AbstractResolver
from aiohttp.resolver import DefaultResolver

# Cloud metadata services answer on these names and addresses.
METADATA_HOSTS = {"metadata.google.internal", "metadata.goog", "metadata", "instance-data", "instance-data.ec2.internal"}
METADATA_NETWORKS = tuple(ipaddress.ip_network(network) for network in (
    "169.254.0.0/16",  # link-local: AWS, GCP, Azure, OpenStack, Oracle (169.254.169.254), ECS (169.254.170.2)
    "fd00:ec2::/64",  # AWS over IPv6 (fd00:ec2::254), and its DNS and time servers beside it
    "fe80::/10",  # IPv6 link-local: nothing a channel lives on
    "100.100.100.200/32",  # Alibaba Cloud
    "168.63.129.16/32",  # Azure's host endpoint, a public-looking address
    "192.0.0.192/32",  # Oracle Cloud (classic)
))
# An IPv6 address that carries an IPv4 one (NAT64 64:ff9b::/96) reaches it through a gateway.
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")


class PrivateTargetRefused(ValueError):
    pass


def _address(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip


def is_public_address(address: str) -> bool:
    ip = _address(address)
    return ip.is_global and not ip.is_multicast and not is_metadata_address(address)


def is_metadata_address(address: str) -> bool:
    ip = _address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip in NAT64_PREFIX:
        ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return any(ip in network for network in METADATA_NETWORKS if network.version == ip.version)


def is_allowed_address(address: str, allow_private: bool) -> bool:
    """A public address; with ``allow_private``, any address but a cloud metadata service's."""
    return not is_metadata_address(address) and (allow_private or is_public_address(address))


def resolve(host: str) -> list[str]:
    """Every address ``host`` resolves to; [] when it does not resolve."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, OSError):
        return []
    return sorted({info[4][0] for info in infos})


def check_host(host: str | None, allow_private: bool) -> None:
    """Raise PrivateTargetRefused when ``host`` is, or resolves to, a non-public address; with
    ``allow_private``, only when it is a cloud metadata service.

    A name that does not resolve is not refused: Apprise puts service tokens (a Discord webhook
    id, an ntfy topic) where the host goes, and those services send to their own fixed hosts.
    """
    if not host:
        return
    name = host.strip("[]").lower().rstrip(".")
    if name in METADATA_HOSTS:
        raise PrivateTargetRefused(f"{host} is a private address (cloud metadata)")
    if not allow_private and (name == "localhost" or name.endswith(".localhost")):
        raise PrivateTargetRefused(f"{host} is a private address")
    for address in resolve(name):
        if not is_allowed_address(address, allow_private):
            which = " (cloud metadata)" if is_metadata_address(address) else ""
            raise PrivateTargetRefused(f"{host} resolves to a private address{which}")


class GuardedResolver(AbstractResolver):
    """aiohttp resolver that drops non-public addresses unless private targets are allowed, and
    cloud metadata addresses always."""

    def __init__(self, allow_private: bool) -> None:
        self._inner = DefaultResolver()
        self._allow_private = allow_private

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET):
        results = await self._inner.resolve(host, port, family)
        allowed = [r for r in results if is_allowed_address(r["host"], self._allow_private)]
        if not allowed:
            raise PrivateTargetRefused(f"{host} resolves to a private address")
        return allowed

    async def close(self) -> None:
        await self._inner.close()



