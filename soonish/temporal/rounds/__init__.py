"""The shape the daily jobs share (ledger retention, series materialization): rounds of work."""
