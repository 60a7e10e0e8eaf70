"""Waitlist offers: a freed place offered to the next person, until the offer runs out."""
