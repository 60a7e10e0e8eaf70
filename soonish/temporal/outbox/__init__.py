"""The worker's drain of the follow outbox (soonish/domain/outbox.py)."""
