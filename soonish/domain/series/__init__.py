"""Recurring series: their recurrence rules (``recurrence``) and the occurrences made from them
(``occurrences``)."""
