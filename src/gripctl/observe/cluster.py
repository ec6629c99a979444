"""Before observing anything: is the environment's kubeconfig context there, and does its API server answer?

Checked once, up front, so that an operator sees "context X missing" or "cluster X unreachable" with
the next step, instead of one cryptic helm error per release. Uses the Kubernetes API client (read
only: GET /version); helm itself has no cheap "ping".
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from gripctl.adapters.helm import KubeTarget
from gripctl.adapters.kubeconfig import keep_kubeconfig_credentials_in_memory
from gripctl.errors import ClusterError

_HINT_CONTEXTS = (
    "list the contexts with `kubectl config get-contexts`; for the local sandbox run `gripctl sandbox up`; "
    "the context is set per environment in gripctl.yaml (environments.<env>.context)"
)


def _kubeconfig_paths(target: KubeTarget) -> list[Path]:
    if target.kubeconfig is not None:
        return [target.kubeconfig]
    env = os.environ.get("KUBECONFIG")
    if env:
        return [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    return [Path("~/.kube/config").expanduser()]


def context_label(target: KubeTarget) -> str:
    return target.context or "(current context)"


def _check(target: KubeTarget, timeout_seconds: float) -> str:
    from kubernetes import client, config  # imported lazily: the client is slow to import

    paths = _kubeconfig_paths(target)
    shown = os.pathsep.join(str(p) for p in paths)
    existing = [p for p in paths if p.is_file()]
    if not existing:
        raise ClusterError(
            f"no kubeconfig found at {shown}, so context {context_label(target)!r} cannot be used",
            hint=_HINT_CONTEXTS,
        )
    config_file = os.pathsep.join(str(p) for p in existing)
    try:
        contexts, active = config.list_kube_config_contexts(config_file=config_file)  # type: ignore[no-untyped-call]
    except config.ConfigException as exc:
        raise ClusterError(f"cannot read kubeconfig {shown}: {exc}", hint=_HINT_CONTEXTS) from None
    names = [str(c.get("name")) for c in contexts or []]
    wanted = target.context or (active or {}).get("name")
    if not wanted:
        raise ClusterError(
            f"kubeconfig {shown} has no current context and none was given", hint=_HINT_CONTEXTS
        )
    if wanted not in names:
        known = ", ".join(names) or "(none)"
        raise ClusterError(
            f"kubeconfig context {wanted!r} not found in {shown} (known: {known})", hint=_HINT_CONTEXTS
        )
    cfg = client.Configuration()
    keep_kubeconfig_credentials_in_memory()
    try:
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=config_file, context=wanted, client_configuration=cfg
        )
    except config.ConfigException as exc:
        raise ClusterError(
            f"kubeconfig context {wanted!r} in {shown} is unusable: {exc}", hint=_HINT_CONTEXTS
        ) from None
    cfg.retries = 0  # an unreachable cluster should fail in seconds, not after urllib3's retries
    api = client.ApiClient(cfg)
    try:
        info = client.VersionApi(api).get_code(_request_timeout=(timeout_seconds, timeout_seconds))
    except Exception as exc:  # urllib3/SSL/HTTP errors all mean the same thing to the operator
        from gripctl.adapters.retry import short_cause

        reason = short_cause(str(exc)) if str(exc) else type(exc).__name__
        raise ClusterError(
            f"the Kubernetes cluster of context {wanted!r} ({cfg.host}) is unreachable ({reason}): "
            "is the cluster up?",
            hint=f"check with `kubectl --context {wanted} cluster-info`; "
            "for the local sandbox run `gripctl sandbox up`",
        ) from None
    finally:
        api.close()  # type: ignore[no-untyped-call]
    return str(info.git_version)


async def check_cluster(target: KubeTarget, *, timeout_seconds: float = 5.0) -> str:
    """Raise ClusterError unless the target's context exists and its API server answers; return its
    Kubernetes version (e.g. `v1.36.3`), which `helm template` then renders for."""
    return await asyncio.to_thread(_check, target, timeout_seconds)
