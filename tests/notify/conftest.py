"""Loopback receivers for the notification tests: the fixtures live in tests/receivers.py."""

from receivers import HttpReceiver, Mailbox, http_receiver, smtp_server

__all__ = ["HttpReceiver", "Mailbox", "http_receiver", "smtp_server"]
