"""How Soonish names a person by their email address where the address itself must not go: logs,
audit lists, delivery reports and bounce reasons shown to organizers."""


def mask_address(address: str | None) -> str | None:
    """``a•••@example.com``: who it was, recognisably, without handing the address over."""
    if not address or "@" not in address:
        return None
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}•••@{domain}"
