"""The pure health rules of verification: rollout progress, failing pods, manifests, leases, holders.

The objects are written the way the API server returns them (camelCase JSON), so these tests pin the
rules without a cluster; the cluster tests check the same rules against real kwok pods.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from gripctl.engine.locks import Holder, lease_expired
from gripctl.engine.verify import Baseline, pod_problem, targets_of, workload_progress


def deployment(**status: Any) -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "ns", "generation": 2},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}},
        "status": {"observedGeneration": 2, **status},
    }


def test_deployment_rolled_out_only_when_all_replicas_updated_ready_available() -> None:
    done = deployment(replicas=2, updatedReplicas=2, readyReplicas=2, availableReplicas=2)
    assert workload_progress(done).healthy
    half = deployment(replicas=3, updatedReplicas=1, readyReplicas=2, availableReplicas=2)
    health = workload_progress(half)
    assert health.state == "progressing" and "1 of 2 new replicas updated" in health.reason
    # Never-ready new pod next to the old one: all "updated", but an old replica still runs.
    surplus = deployment(replicas=2, updatedReplicas=2, readyReplicas=2, availableReplicas=2)
    surplus["status"]["replicas"] = 3
    assert "1 old replicas pending termination" in workload_progress(surplus).reason
    unavailable = deployment(replicas=2, updatedReplicas=2, readyReplicas=1, availableReplicas=1)
    assert "1 of 2 updated replicas available" in workload_progress(unavailable).reason


def test_deployment_with_unobserved_generation_is_not_done_even_if_status_looks_ready() -> None:
    stale = deployment(replicas=2, updatedReplicas=2, readyReplicas=2, availableReplicas=2)
    stale["status"]["observedGeneration"] = 1
    assert workload_progress(stale).state == "progressing"
    # A cache that lags the apply: generation 2 cached, but helm just made generation 3.
    assert workload_progress(
        deployment(replicas=2, updatedReplicas=2, readyReplicas=2, availableReplicas=2), 3
    ).state == ("progressing")


def test_progress_deadline_exceeded_fails() -> None:
    obj = deployment(
        conditions=[{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]
    )
    assert workload_progress(obj).failed


def test_job_complete_and_failed() -> None:
    job: dict[str, Any] = {"kind": "Job", "metadata": {"name": "migrate"}, "spec": {}, "status": {}}
    assert workload_progress(job).state == "progressing"
    job["status"]["conditions"] = [{"type": "Complete", "status": "True"}]
    assert workload_progress(job).healthy
    job["status"]["conditions"] = [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]
    assert "BackoffLimitExceeded" in workload_progress(job).reason


def test_daemonset_and_statefulset_rules() -> None:
    ds = {
        "kind": "DaemonSet",
        "metadata": {"name": "agent", "generation": 1},
        "spec": {},
        "status": {
            "observedGeneration": 1,
            "desiredNumberScheduled": 3,
            "updatedNumberScheduled": 3,
            "numberAvailable": 2,
        },
    }
    assert workload_progress(ds).state == "progressing"
    ds["status"]["numberAvailable"] = 3
    assert workload_progress(ds).healthy
    sts = {
        "kind": "StatefulSet",
        "metadata": {"name": "db", "generation": 1},
        "spec": {"replicas": 2},
        "status": {
            "observedGeneration": 1,
            "readyReplicas": 2,
            "updatedReplicas": 2,
            "currentRevision": "db-1",
            "updateRevision": "db-2",
        },
    }
    assert workload_progress(sts).state == "progressing"
    sts["status"]["currentRevision"] = "db-2"
    assert workload_progress(sts).healthy


def pod(uid: str = "u1", **status: Any) -> dict[str, Any]:
    return {"kind": "Pod", "metadata": {"name": "web-1", "namespace": "ns", "uid": uid}, "status": status}


def test_pod_problems_fail_fast() -> None:
    base = Baseline()
    assert pod_problem(pod(phase="Running"), base) is None
    assert "Failed" in (pod_problem(pod(phase="Failed", reason="Evicted"), base) or "")
    crash = pod(
        phase="Running",
        containerStatuses=[
            {
                "name": "app",
                "restartCount": 2,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1}},
            }
        ],
    )
    problem = pod_problem(crash, base) or ""
    assert "CrashLoopBackOff" in problem and "last exit code 1" in problem
    unschedulable = pod(
        phase="Pending",
        conditions=[
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes"}
        ],
    )
    assert "Unschedulable" in (pod_problem(unschedulable, base) or "")


def test_restart_counts_against_the_baseline_and_stale_pods_are_ignored() -> None:
    running = pod(
        phase="Running", containerStatuses=[{"name": "app", "restartCount": 3, "state": {"running": {}}}]
    )
    assert pod_problem(running, Baseline(restarts={"u1": {"app": 3}})) is None
    assert "restarted" in (pod_problem(running, Baseline(restarts={"u1": {"app": 2}})) or "")
    failed_before = pod(phase="Failed")
    assert pod_problem(failed_before, Baseline(stale_pods={"u1"})) is None
    deleting = pod(phase="Failed")
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert pod_problem(deleting, Baseline()) is None


def test_manifest_targets() -> None:
    manifest = """
---
# Source: x/templates/a.yaml
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: other}
spec: {selector: {app: web}}
---
apiVersion: v1
kind: Service
metadata: {name: external}
spec: {type: ExternalName, externalName: example.com}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
"""
    targets = targets_of(manifest, "ns")
    assert [(t.kind, t.namespace, t.name) for t in targets] == [
        ("Deployment", "ns", "web"),
        ("Service", "other", "web"),
    ]
    assert targets[1].selector == {"app": "web"}


def test_lease_expiry_and_dead_holders() -> None:
    now = time.time()
    fresh = {"spec": {"holderIdentity": "a@h:1:2", "leaseDurationSeconds": 15, "renewTime": _iso(now - 5)}}
    old = {"spec": {"holderIdentity": "a@h:1:2", "leaseDurationSeconds": 15, "renewTime": _iso(now - 20)}}
    assert not lease_expired(fresh, now)
    assert lease_expired(old, now)
    assert lease_expired({"spec": {}}, now)
    holder = Holder.parse("alice@build-7:4242:17")
    assert holder == Holder("alice", "build-7", 4242, 17)
    assert Holder.parse("garbage") is None
    me = Holder("me", socket.gethostname(), os.getpid(), 1)
    assert not me.process_gone()
    elsewhere = Holder("me", "some-other-host", 999999, 1)
    assert not elsewhere.process_gone()  # cannot tell for another host: only the lease expiry says


def _iso(t: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
