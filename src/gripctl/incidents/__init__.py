"""Incidents: severity rules, escalation paths and incident timelines, recorded in the ledger."""
