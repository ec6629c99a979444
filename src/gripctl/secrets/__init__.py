"""Secrets: SOPS + age workflows (init, edit, encrypt, rotate, updatekeys, check) over the sops adapter.

The deploy path uses `decrypt_values` / `merged_values` (plaintext in memory only, piped to helm) and
`secret_leaves` / `mask` (hide known secret values in diffs and logs); `gripctl validate` uses
`check_secrets`. docs/secrets.md describes the workflows and the masking rule.
"""

from gripctl.secrets.check import SecretFinding, check_secrets
from gripctl.secrets.decrypt import decrypt_values
from gripctl.secrets.values import MIN_MASK_LENGTH, mask, merged_values, secret_leaves

__all__ = [
    "MIN_MASK_LENGTH",
    "SecretFinding",
    "check_secrets",
    "decrypt_values",
    "mask",
    "merged_values",
    "secret_leaves",
]
