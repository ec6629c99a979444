"""Ledger: the durable SQL record of runs, actions, events, plans, approvals, incidents and notifications."""
