"""Operations on the domain, shared by the web pages, the JSON API and the chat bots.

A caller parses its input, calls one of these, and renders the result or the ServiceError.
"""
from soonish.services.errors import Conflict, Forbidden, NotFound, ServiceError, Unavailable, ValidationFailed

__all__ = ["ServiceError", "ValidationFailed", "NotFound", "Forbidden", "Conflict", "Unavailable"]
