"""Delivering a notification batch by batch, its retries, and one-off mails."""
