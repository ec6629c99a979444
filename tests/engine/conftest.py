"""Fixtures for the engine's tests: loopback notification receivers (tests/receivers.py) and `synth`
(synthetic platforms on the sandbox, synth_fixture.py)."""

from synth_fixture import synth

from receivers import http_receiver

__all__ = ["http_receiver", "synth"]
