"""Ledger retention: the `soonish-retention` run that prunes old deliveries."""
