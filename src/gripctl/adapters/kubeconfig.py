"""Keeps the Kubernetes client's copies of kubeconfig credentials in memory instead of $TMPDIR."""

from __future__ import annotations

import os

from kubernetes.config import kube_config

_MEMFDS: dict[str, str] = {}


def _memfd_with_content(
    content: str | bytes, temp_file_path: str | None = None, force_recreate: bool = False
) -> str:
    """Stands in for the client's `_create_temp_file_with_content`, which copies a kubeconfig's embedded
    CA, client certificate and *client private key* into files in $TMPDIR for the life of the process.
    gripctl promises that nothing secret is written to disk during a deploy, so those copies live in
    anonymous memory (memfd) and are opened through /proc/self/fd/N by this process only."""
    key = str(content)
    cached = _MEMFDS.get(key)
    if cached is not None and not force_recreate:
        return cached
    fd = os.memfd_create("gripctl-kubeconfig-data", 0)
    os.write(fd, content.encode() if isinstance(content, str) else content)
    path = f"/proc/self/fd/{fd}"
    _MEMFDS[key] = path
    return path


def keep_kubeconfig_credentials_in_memory() -> None:
    """Idempotent; call before loading a kubeconfig. Elsewhere than Linux the client's files remain."""
    if hasattr(os, "memfd_create"):
        kube_config._create_temp_file_with_content = _memfd_with_content
