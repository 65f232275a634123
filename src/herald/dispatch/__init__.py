"""Delivery: claim → render → send → record, with an address guard and per-endpoint isolation."""
