"""Recurring series: the daily `soonish-series` run that makes the coming occurrences."""
