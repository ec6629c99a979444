"""Metrics: the four DORA keys and deploy statistics, computed in SQL over the ledger."""
