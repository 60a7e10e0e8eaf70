"""The event workflow: one per event, for its life (announcements, updates, cancel, completion)."""
