"""For operations on the cluster: reach the environment's cluster, and build the engine's world of
adapters (helm, the Kubernetes API) and the sinks the core wires into every run."""

from __future__ import annotations

from dataclasses import dataclass

from gripctl.adapters.helm import KubeTarget
from gripctl.adapters.kube import Kube
from gripctl.engine.lifecycle import SinkFactory, World
from gripctl.engine.ports import HelmCLI
from gripctl.ledger.store import Ledger
from gripctl.model.types import Platform
from gripctl.observe.cluster import check_cluster
from gripctl.observe.snapshot import target_for


def sink_factories() -> list[SinkFactory]:
    """The sinks the core wires into every run that changes the cluster: incidents and notifications."""
    from gripctl.incidents.sink import incident_sink_factory

    return [incident_sink_factory]


@dataclass
class Cluster:
    """The environment's cluster, checked reachable: its target, version and API client."""

    target: KubeTarget
    version: str
    kube: Kube


async def reach(platform: Platform) -> Cluster:
    """The environment's cluster, or one ClusterError before anything else is tried."""
    target = target_for(platform)
    version = await check_cluster(target)
    return Cluster(target, version, Kube(target))


def world(platform: Platform, ledger: Ledger, cluster: Cluster) -> World:
    """The adapters a run acts through. An API-server outage shorter than a release's timeout is
    ridden through (adapters/retry.py): the API client's budget is the longest release timeout, helm's
    each release's own."""
    cluster.kube.outage_seconds = max((r.timeout_seconds for r in platform.releases.values()), default=60)
    return World(platform, ledger, cluster.kube, cluster.target, HelmCLI(cluster.target, cluster.kube.server))
