"""Outgoing webhooks: one durable delivery workflow per message, and its attempts."""
