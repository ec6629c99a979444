"""The ledger's records, one module per record: each adds its methods to the `Ledger` facade
(gripctl.ledger.store) on top of the connection plumbing in gripctl.ledger.db."""

_HEX = frozenset("0123456789abcdef")


def check_sha256(value: str, what: str) -> None:
    """Refuse anything but a sha256 hex digest (a digest or fingerprint the caller computed)."""
    if len(value) != 64 or not set(value) <= _HEX:
        # The value is not shown: a caller that passed the hashed content itself could leak a secret.
        raise ValueError(f"{what} must be a sha256 hex digest (64 lowercase hex digits)")
