"""Fixtures for the engine's tests: loopback notification receivers (tests/receivers.py)."""

from receivers import http_receiver

__all__ = ["http_receiver"]
