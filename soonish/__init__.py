"""Soonish: notification-first events."""
