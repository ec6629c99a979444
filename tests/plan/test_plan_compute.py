"""compute_plan on hand-made snapshots: each status -> action, diffs, masking, digest, staleness."""

from __future__ import annotations

import base64
from dataclasses import replace
from pathlib import Path

import pytest
from plan_helpers import configmap, deployment, desired, make_platform, make_snapshot, observed, secret

from gripctl.errors import PlanStaleError
from gripctl.plan import check_fresh, compute_plan, plan_from_json, plan_to_json
from gripctl.plan.types import Action, Plan, ReleaseStatus

A = "010-alpha"


def plan_one(tmp_path: Path, obs, des, **kwargs) -> Plan:  # type: ignore[no-untyped-def]
    platform = make_platform(tmp_path, (A, ()))
    return compute_plan(platform, make_snapshot([obs], [des], **kwargs), [A])


# --- each status -> one action --------------------------------------------------------------------


def test_absent_release_is_installed_and_every_object_is_added(tmp_path: Path) -> None:
    manifest = deployment("alpha") + configmap("alpha", {"k": "v"})
    plan = plan_one(tmp_path, observed(A, ReleaseStatus.absent), desired(A, manifest=manifest))
    r = plan.get(A)
    assert r.action is Action.install and r.reason == "not installed"
    assert [(c.change, c.kind, c.namespace, c.name) for c in r.changes] == [
        ("added", "ConfigMap", "alpha", "alpha"),
        ("added", "apps/Deployment", "alpha", "alpha"),
    ]
    assert plan.has_changes


def test_deployed_and_identical_is_noop(tmp_path: Path) -> None:
    manifest = deployment("alpha")
    plan = plan_one(
        tmp_path,
        observed(A, manifest=manifest, values={"replicas": 1}, revision=4),
        desired(A, manifest=manifest, values={"replicas": 1.0}),  # helm's JSON makes 1.0 and 1 equal
    )
    r = plan.get(A)
    assert (r.action, r.reason, r.changes) == (Action.noop, "in sync at revision 4", ())
    assert not plan.has_changes


def test_deployed_with_a_changed_field_is_upgraded_with_a_diff_of_that_field(tmp_path: Path) -> None:
    plan = plan_one(
        tmp_path,
        observed(A, manifest=deployment("alpha", replicas=1), values={"replicas": 1, "tag": "1.0"}),
        desired(A, manifest=deployment("alpha", replicas=3), values={"replicas": 3, "tag": "1.0"}),
    )
    r = plan.get(A)
    assert r.action is Action.upgrade
    assert r.reason == "values changed: replicas; objects 1 changed"
    [change] = r.changes
    assert change.change == "changed" and change.kind == "apps/Deployment"
    lines = change.diff.splitlines()
    assert "-  replicas: 1" in lines and "+  replicas: 3" in lines
    assert not any(line.startswith(("+", "-")) and "image" in line for line in lines)


def test_changed_values_alone_upgrade(tmp_path: Path) -> None:
    manifest = deployment("alpha")
    plan = plan_one(
        tmp_path,
        observed(A, manifest=manifest, values={"unused": {"a": 1}}),
        desired(A, manifest=manifest, values={"unused": {"a": 2}, "new": True}),
    )
    r = plan.get(A)
    assert (r.action, r.reason, r.changes) == (Action.upgrade, "values changed: new, unused.a", ())


def test_chart_version_alone_upgrades(tmp_path: Path) -> None:
    manifest = deployment("alpha")
    plan = plan_one(
        tmp_path,
        observed(A, manifest=manifest, chart_version="0.1.0"),
        desired(A, manifest=manifest, chart_version="0.2.0"),
    )
    assert (plan.get(A).action, plan.get(A).reason) == (Action.upgrade, "chart 0.1.0 -> 0.2.0")


def test_failed_release_is_upgraded_even_when_identical(tmp_path: Path) -> None:
    manifest = deployment("alpha")
    obs = replace(observed(A, ReleaseStatus.failed, manifest=manifest, revision=3), description="timed out")
    plan = plan_one(tmp_path, obs, desired(A, manifest=manifest))
    assert (plan.get(A).action, plan.get(A).reason) == (Action.upgrade, "revision 3 failed: timed out")


@pytest.mark.parametrize("helm_status", ["pending-install", "pending-upgrade", "pending-rollback"])
def test_locked_release_is_unlocked_back_to_the_last_deployed_revision(
    tmp_path: Path, helm_status: str
) -> None:
    manifest = deployment("alpha")
    obs = observed(
        A, ReleaseStatus.locked, manifest=manifest, revision=5, helm_status=helm_status, deployed_revision=4
    )
    plan = plan_one(tmp_path, obs, desired(A, manifest=manifest))
    r = plan.get(A)
    assert r.action is Action.unlock and r.deployed_revision == 4 and r.helm_status == helm_status
    assert r.reason.startswith(f"{helm_status} at revision 5 since 2026-11-27T12:03:00Z")
    assert r.reason.endswith("roll back to revision 4, then upgrade")


# --- masking --------------------------------------------------------------------------------------

OLD_PW, NEW_PW = "old-password-7f3a9c", "new-password-b81e44"


def test_secret_data_is_masked_but_the_changed_key_is_named(tmp_path: Path) -> None:
    plan = plan_one(
        tmp_path,
        observed(A, manifest=secret("alpha", {"password": OLD_PW, "user": "admin-user"})),
        desired(A, manifest=secret("alpha", {"password": NEW_PW, "user": "admin-user"})),
    )
    [change] = plan.get(A).changes
    assert "-  password: '<secret: old value>'" in change.diff.splitlines()
    assert "+  password: '<secret: new value>'" in change.diff.splitlines()
    assert "user: <secret>" in change.diff  # unchanged keys are masked too, and not shown as changed
    text = plan_to_json(plan)
    for value in (OLD_PW, NEW_PW, "admin-user"):
        assert value not in text
        assert base64.b64encode(value.encode()).decode() not in text


def test_secret_leaves_are_masked_in_configmaps_args_and_reasons_live_and_desired(tmp_path: Path) -> None:
    secrets_yaml = f"db:\n  password: {NEW_PW}\n".encode()
    obs = observed(
        A,
        manifest=configmap("alpha", {"url": f"postgres://app:{OLD_PW}@db/app"})
        + deployment("alpha", args=(f"--password={OLD_PW}",)),
        values={"db": {"password": OLD_PW}},
    )
    des = desired(
        A,
        manifest=configmap("alpha", {"url": f"postgres://app:{NEW_PW}@db/app"})
        + deployment("alpha", args=(f"--password={NEW_PW}",)),
        values={},
        secrets_yaml=secrets_yaml,
    )
    plan = plan_one(tmp_path, obs, des)
    r = plan.get(A)
    assert r.action is Action.upgrade and r.reason == "values changed: db.password; objects 2 changed"
    text = plan_to_json(plan)
    assert OLD_PW not in text and NEW_PW not in text
    cm = next(c for c in r.changes if c.kind == "ConfigMap")
    # both sides are masked the same, so the diff says only that masked values differ
    assert cm.diff == "(only secret values differ; they are masked)"
    dep = next(c for c in r.changes if c.kind == "apps/Deployment")
    assert dep.diff == "(only secret values differ; they are masked)"


def test_a_secret_masked_inside_a_diff_that_also_shows_real_changes(tmp_path: Path) -> None:
    secrets_yaml = f"token: {NEW_PW}\n".encode()
    obs = observed(A, manifest=configmap("alpha", {"token": NEW_PW, "level": "info"}))
    des = desired(
        A, manifest=configmap("alpha", {"token": NEW_PW, "level": "debug"}), secrets_yaml=secrets_yaml
    )
    [change] = plan_one(tmp_path, obs, des).get(A).changes
    assert "+  level: debug" in change.diff.splitlines() and "   token: <secret>" in change.diff.splitlines()
    assert NEW_PW not in change.diff


# --- digest and staleness -------------------------------------------------------------------------


def _digest_case(tmp_path: Path, **changes: object) -> Plan:
    """A two-release plan; keyword arguments alter one input kind at a time."""
    platform = make_platform(tmp_path, (A, ()), ("020-beta", (A,)))
    m = deployment("alpha")
    repo_inputs = {
        f"chart ops/helm/{A}": "1" * 64,
        "values file envs/production/values.yaml": "2" * 64,
        f"secrets {A}": "3" * 64,
        f"set values {A}": "4" * 64,
    }
    repo_inputs.update(changes.get("repo", {}))  # type: ignore[call-overload]
    obs_a = observed(A, manifest=m, revision=int(changes.get("revision", 2)))  # type: ignore[call-overload]
    obs_a = replace(obs_a, manifest=str(changes.get("live_manifest", m)))
    obs_b = observed("020-beta", ReleaseStatus.absent)
    des_a = desired(A, manifest=m, inputs=repo_inputs)
    des_b = desired("020-beta", manifest=deployment("beta"), inputs={"chart ops/helm/020-beta": "5" * 64})
    top = {"gripctl.yaml": str(changes.get("config", "6" * 64))}
    snap = make_snapshot([obs_a, obs_b], [des_a, des_b], inputs=top)
    ids = list(changes.get("ids", [A, "020-beta"]))  # type: ignore[call-overload]
    return compute_plan(platform, snap, ids, created_at=str(changes.get("at", "2026-11-27T13:00:00+00:00")))


def test_digest_is_stable_and_ignores_the_time_of_planning(tmp_path: Path) -> None:
    one = _digest_case(tmp_path)
    two = _digest_case(tmp_path, at="2030-01-01T00:00:00+00:00")
    assert one.digest == two.digest and len(one.digest) == 64 and one.id == one.digest[:12]
    check_fresh(one, two)  # does not raise


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"repo": {f"chart ops/helm/{A}": "9" * 64}}, f"chart ops/helm/{A} changed"),
        (
            {"repo": {"values file envs/production/values.yaml": "9" * 64}},
            "values file envs/production/values.yaml changed",
        ),
        ({"repo": {f"secrets {A}": "9" * 64}}, f"secrets {A} changed"),
        ({"repo": {f"set values {A}": "9" * 64}}, f"set values {A} changed"),
        ({"repo": {"values file envs/production/extra.yaml": "9" * 64}}, "extra.yaml is new"),
        ({"config": "9" * 64}, "gripctl.yaml changed"),
        ({"revision": 3}, f"live release {A} changed"),
        ({"live_manifest": deployment("alpha", replicas=5)}, f"live release {A} changed"),
        ({"ids": [A]}, "selection changed"),
    ],
)
def test_digest_changes_with_each_input_and_check_fresh_names_it(
    tmp_path: Path, change: dict[str, object], named: str
) -> None:
    saved = _digest_case(tmp_path)
    current = _digest_case(tmp_path, **change)
    assert current.digest != saved.digest
    with pytest.raises(PlanStaleError) as err:
        check_fresh(saved, current)
    assert named in err.value.message
    assert err.value.message.endswith(f"since plan {saved.id}; re-run gripctl plan")


def test_check_fresh_message_for_a_values_file(tmp_path: Path) -> None:
    saved = _digest_case(tmp_path)
    current = _digest_case(tmp_path, repo={"values file envs/production/values.yaml": "0" * 64})
    with pytest.raises(PlanStaleError) as err:
        check_fresh(saved, current)
    assert err.value.message == (
        f"values file envs/production/values.yaml changed since plan {saved.id}; re-run gripctl plan"
    )


def test_waves_follow_the_graph_restricted_to_the_selection(tmp_path: Path) -> None:
    platform = make_platform(
        tmp_path, (A, ()), ("020-beta", (A,)), ("030-gamma", ("020-beta",)), ("040-delta", ())
    )
    ids = [A, "030-gamma", "040-delta"]
    obs = [observed(rid, ReleaseStatus.absent) for rid in ids]
    des = [desired(rid, manifest=deployment(rid.partition("-")[2])) for rid in ids]
    plan = compute_plan(platform, make_snapshot(obs, des), ids)
    assert plan.waves == ((A, "040-delta"), ("030-gamma",))  # gamma still after alpha, through beta
    assert [r.release_id for r in plan.releases] == [A, "030-gamma", "040-delta"]


def test_plan_json_round_trips(tmp_path: Path) -> None:
    plan = _digest_case(tmp_path, live_manifest=deployment("alpha", replicas=2))
    again = plan_from_json(plan_to_json(plan))
    assert again == plan
