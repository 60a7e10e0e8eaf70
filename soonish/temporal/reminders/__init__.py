"""Reminders: a schedule per (event, offset), and a slot workflow per due second that sends them."""
