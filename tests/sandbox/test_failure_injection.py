"""Failure injection by pod label (gripctl.dev/inject), as documented in docs/sandbox.md."""

from __future__ import annotations

import time

from kubernetes import client as k8s
from kubernetes import watch as k8s_watch
from sandbox_helpers import pod_ready, watch_until


def _pod(
    name: str, labels: dict[str, str], *, annotations: dict[str, str] | None = None, restart: str = "Always"
) -> k8s.V1Pod:
    return k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name=name, labels=labels, annotations=annotations),
        spec=k8s.V1PodSpec(
            restart_policy=restart, containers=[k8s.V1Container(name="app", image="registry.example/app:1")]
        ),
    )


def test_crash_label_crash_loops_with_growing_restart_count(kube_api: k8s.ApiClient, namespace: str) -> None:
    core = k8s.CoreV1Api(kube_api)
    core.create_namespaced_pod(namespace, _pod("crasher", {"gripctl.dev/inject": "crash"}))

    seen_backoff = seen_error = False
    restarts: list[int] = []
    w = k8s_watch.Watch()
    for event in w.stream(
        core.list_namespaced_pod, namespace, field_selector="metadata.name=crasher", timeout_seconds=40
    ):
        pod = event["object"]
        for cs in pod.status.container_statuses or []:
            restarts.append(cs.restart_count)
            if cs.state.waiting and cs.state.waiting.reason == "CrashLoopBackOff":
                seen_backoff = True
                assert cs.last_state.terminated.exit_code == 1
            if (
                cs.state.terminated
                and cs.state.terminated.exit_code == 1
                and cs.state.terminated.reason == "Error"
            ):
                seen_error = True
            assert not cs.ready
        assert not pod_ready(pod)
        if seen_backoff and seen_error and max(restarts, default=0) >= 2:
            w.stop()
            break
    assert seen_error, "never saw the container terminated with exit code 1"
    assert seen_backoff, "never saw the container waiting in CrashLoopBackOff"
    assert max(restarts) >= 2, f"restartCount did not grow: {restarts}"
    assert restarts == sorted(restarts), f"restartCount went backwards: {restarts}"
    pod = core.read_namespaced_pod("crasher", namespace)
    assert pod.status.phase == "Running"
    reasons = {
        e.reason
        for e in core.list_namespaced_event(namespace, field_selector="involvedObject.name=crasher").items
    }
    assert "BackOff" in reasons


def test_crash_label_with_restart_policy_never_fails_the_pod(kube_api: k8s.ApiClient, namespace: str) -> None:
    core = k8s.CoreV1Api(kube_api)
    core.create_namespaced_pod(namespace, _pod("one-shot", {"gripctl.dev/inject": "crash"}, restart="Never"))

    failed = watch_until(
        core.list_namespaced_pod,
        namespace,
        field_selector="metadata.name=one-shot",
        predicate=lambda p: p.status.phase == "Failed",
        timeout=30,
    )
    assert failed is not None, "the pod did not go Failed"
    (cs,) = failed.status.container_statuses
    assert cs.state.terminated.exit_code == 1
    assert cs.restart_count == 0


def test_slow_ready_label_becomes_ready_after_the_delay(kube_api: k8s.ApiClient, namespace: str) -> None:
    core = k8s.CoreV1Api(kube_api)
    label = {"gripctl.dev/inject": "slow-ready"}
    core.create_namespaced_pod(namespace, _pod("slow-default", label))  # documented default: 8s
    core.create_namespaced_pod(
        namespace, _pod("slow-3s", label, annotations={"gripctl.dev/ready-after": "3s"})
    )

    running_at: dict[str, float] = {}
    ready_at: dict[str, float] = {}
    w = k8s_watch.Watch()
    for event in w.stream(
        core.list_namespaced_pod,
        namespace,
        label_selector="gripctl.dev/inject=slow-ready",
        timeout_seconds=60,
    ):
        pod, now = event["object"], time.monotonic()
        name = pod.metadata.name
        if pod.status.phase == "Running" and not pod_ready(pod):
            running_at.setdefault(name, now)
        if pod_ready(pod):
            ready_at.setdefault(name, now)
        if len(ready_at) == 2:
            w.stop()
            break
    assert set(running_at) == {"slow-default", "slow-3s"}, "the pods were not Running-but-not-Ready first"
    assert set(ready_at) == {"slow-default", "slow-3s"}, f"not all pods became Ready: {ready_at}"
    assert 2.5 <= ready_at["slow-3s"] - running_at["slow-3s"] < 20
    assert 7.5 <= ready_at["slow-default"] - running_at["slow-default"] < 30


def test_unknown_inject_value_behaves_like_a_normal_pod(kube_api: k8s.ApiClient, namespace: str) -> None:
    core = k8s.CoreV1Api(kube_api)
    core.create_namespaced_pod(namespace, _pod("plain", {"gripctl.dev/inject": "no-such-mode"}))
    ready = watch_until(
        core.list_namespaced_pod,
        namespace,
        field_selector="metadata.name=plain",
        predicate=pod_ready,
        timeout=30,
    )
    assert ready is not None
