"""The pure parts of drift detection: normalising, comparing, field ownership, ignore rules, masking.

The objects here are shaped like real API server answers (managedFields included) so that the rules
are tested on what the cluster tests then meet for real.
"""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest

from gripctl.errors import ConfigError, Location
from gripctl.model.types import DriftIgnoreRule, DriftTarget
from gripctl.observe.drift import (
    DriftState,
    FieldChange,
    FieldDrift,
    ObjectRef,
    apply_rules,
    compare,
    differences,
    manifest_objects,
    normalise,
    opted_out,
    owners,
    secret_strings,
    target_matches,
    whole_object_rule,
)

DEPLOYMENT = ObjectRef("apps/v1", "Deployment", "web", "api")


def live_deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "api",
            "namespace": "web",
            "uid": "0b6c7e6e-1",
            "resourceVersion": "812",
            "generation": 3,
            "creationTimestamp": "2026-12-01T22:00:00Z",
            "labels": {"app": "api", "autoscaled": "true"},
            "annotations": {"deployment.kubernetes.io/revision": "2", "meta.helm.sh/release-name": "web"},
            "managedFields": [
                {
                    "manager": "helm",
                    "operation": "Apply",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {
                        "f:metadata": {"f:labels": {"f:app": {}}},
                        "f:spec": {
                            "f:template": {
                                "f:spec": {
                                    "f:containers": {
                                        'k:{"name":"api"}': {".": {}, "f:image": {}, "f:args": {}}
                                    }
                                }
                            }
                        },
                    },
                },
                {
                    "manager": "kube-controller-manager",
                    "operation": "Update",
                    "subresource": "scale",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:spec": {"f:replicas": {}}},
                },
                {
                    "manager": "kubectl-edit",
                    "operation": "Update",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {
                        "f:spec": {
                            "f:template": {
                                "f:spec": {"f:containers": {'k:{"name":"sidecar"}': {"f:image": {}}}}
                            }
                        }
                    },
                },
            ],
        },
        "spec": {
            "replicas": 5,
            "template": {
                "spec": {
                    "containers": [
                        {"name": "api", "image": "api:1.0", "args": ["--port", "80"]},
                        {"name": "sidecar", "image": "proxy:2"},
                    ],
                    "dnsPolicy": "ClusterFirst",
                }
            },
        },
        "status": {"replicas": 5, "readyReplicas": 5},
    }


def dry_run_of(live: dict[str, Any]) -> dict[str, Any]:
    """What a dry run answers when nothing drifted: the same object, status and metadata included."""
    return copy.deepcopy(live)


def test_normalise_keeps_labels_annotations_and_everything_outside_metadata_and_status() -> None:
    live = live_deployment()
    out = normalise(live)
    assert set(out) == {"apiVersion", "kind", "metadata", "spec"}
    assert set(out["metadata"]) == {"labels", "annotations"}
    assert live["metadata"]["uid"] == "0b6c7e6e-1", "normalise must not change its input"


def test_bookkeeping_annotations_are_not_compared() -> None:
    live = live_deployment()
    live["metadata"]["annotations"]["deprecated.daemonset.template.generation"] = "1"
    live["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = "{}"
    answer = dry_run_of(live)
    answer["metadata"]["annotations"]["deprecated.daemonset.template.generation"] = "2"
    answer["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "3"
    del answer["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    assert compare(DEPLOYMENT, live, answer, (), ()).state is DriftState.in_sync
    assert normalise({"metadata": {"annotations": {"deprecated.daemonset.template.generation": "2"}}}) == {}


def test_an_identical_dry_run_is_no_drift_despite_server_metadata_and_status() -> None:
    live = live_deployment()
    answer = dry_run_of(live)
    answer["metadata"]["managedFields"].append({"manager": "gripctl-drift", "operation": "Apply"})
    answer["metadata"]["resourceVersion"] = "813"
    answer["status"] = {"replicas": 0}
    result = compare(DEPLOYMENT, live, answer, (), ())
    assert result.state is DriftState.in_sync
    assert result.fields == () and result.ignored == ()


def test_differences_are_json_pointers_with_the_kind_of_change() -> None:
    live = {"spec": {"replicas": 5, "ports": [1, 2, 3]}, "metadata": {"labels": {"a/b": "x"}}}
    desired = {"spec": {"replicas": 2, "ports": [1, 2], "paused": False}, "metadata": {"labels": {}}}
    found = [(path, change) for path, change, _, _ in differences(live, desired)]
    assert found == [
        (("metadata", "labels", "a/b"), FieldChange.added),
        (("spec", "paused"), FieldChange.removed),
        (("spec", "ports", 2), FieldChange.added),
        (("spec", "replicas"), FieldChange.changed),
    ]


def test_a_type_change_is_a_change_but_equal_numbers_are_not() -> None:
    assert list(differences({"a": 1}, {"a": 1.0})) == []
    assert list(differences({"a": 1}, {"a": True})) == [(("a",), FieldChange.changed, 1, True)]
    assert list(differences({"a": "1"}, {"a": 1})) == [(("a",), FieldChange.changed, "1", 1)]


def test_compare_reports_scale_and_image_with_paths_owners_and_values() -> None:
    live = live_deployment()
    answer = dry_run_of(live)
    answer["spec"]["replicas"] = 2
    answer["spec"]["template"]["spec"]["containers"][0]["image"] = "api:1.1"
    result = compare(DEPLOYMENT, live, answer, (), ())
    assert result.state is DriftState.drifted
    assert result.fields == (
        FieldDrift("/spec/replicas", FieldChange.changed, 5, 2, ("kube-controller-manager",)),
        FieldDrift(
            "/spec/template/spec/containers/0/image", FieldChange.changed, "api:1.0", "api:1.1", ("helm",)
        ),
    )


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (("spec", "replicas"), ("kube-controller-manager",)),
        (("spec", "template", "spec", "containers", 0, "image"), ("helm",)),
        (("spec", "template", "spec", "containers", 1, "image"), ("kubectl-edit",)),
        (("spec", "template", "spec", "containers", 0, "args", 1), ("helm",)),  # atomic list: owner of all
        (("metadata", "labels", "app"), ("helm",)),
        (("metadata", "labels", "autoscaled"), ()),
        (("spec", "template", "spec", "dnsPolicy"), ()),  # a default nobody applied
        (("spec", "template", "spec", "containers", 7, "image"), ()),  # no such item
    ],
)
def test_owners_walk_managed_fields(path: tuple[str | int, ...], expected: tuple[str, ...]) -> None:
    assert owners(live_deployment(), path) == expected


def test_owners_match_set_items_by_value_and_lists_by_index() -> None:
    live = {
        "metadata": {
            "finalizers": ["a", "b"],
            "managedFields": [
                {"manager": "m1", "fieldsV1": {"f:metadata": {"f:finalizers": {'v:"b"': {}}}}},
                {"manager": "m2", "fieldsV1": {"f:spec": {"f:list": {"i:1": {"f:x": {}}}}}},
                {"manager": "broken", "fieldsV1": {"f:metadata": {"f:finalizers": {"v:not-json": {}}}}},
            ],
        },
        "spec": {"list": [{"x": 1}, {"x": 2}]},
    }
    assert owners(live, ("metadata", "finalizers", 1)) == ("m1",)
    assert owners(live, ("metadata", "finalizers", 0)) == ()
    assert owners(live, ("spec", "list", 1, "x")) == ("m2",)
    assert owners(live, ("spec", "list", 0, "x")) == ()


def rule(**kwargs: Any) -> DriftIgnoreRule:
    kwargs.setdefault("location", Location("gripctl.yaml", 4, 7, "drift.ignore[0]"))
    return DriftIgnoreRule(**kwargs)


def scaled_and_edited() -> tuple[dict[str, Any], dict[str, Any]]:
    live = live_deployment()
    answer = dry_run_of(live)
    answer["spec"]["replicas"] = 2
    answer["spec"]["template"]["spec"]["containers"][0]["image"] = "api:1.1"
    return live, answer


def test_a_path_rule_ignores_that_field_and_says_which_rule() -> None:
    live, answer = scaled_and_edited()
    rules = (rule(paths=("/spec/replicas",), target=DriftTarget(kind="Deployment"), reason="HPA"),)
    result = compare(DEPLOYMENT, live, answer, rules, ())
    assert [f.path for f in result.fields] == ["/spec/template/spec/containers/0/image"]
    assert [(i.path, i.rule) for i in result.ignored] == [
        ("/spec/replicas", "drift.ignore[0] (gripctl.yaml:4): HPA")
    ]


def test_a_wildcard_path_rule_covers_every_container() -> None:
    live, answer = scaled_and_edited()
    rules = (rule(paths=("/spec/template/spec/containers/*/image",)),)
    result = compare(DEPLOYMENT, live, answer, rules, ())
    assert [f.path for f in result.fields] == ["/spec/replicas"]


def test_a_manager_rule_ignores_only_fields_that_manager_owns() -> None:
    live, answer = scaled_and_edited()
    result = compare(DEPLOYMENT, live, answer, (rule(managers=("kube-controller-manager",)),), ())
    assert [f.path for f in result.fields] == ["/spec/template/spec/containers/0/image"]
    assert [i.path for i in result.ignored] == ["/spec/replicas"]


def test_kubectl_scale_is_not_covered_by_a_rule_for_the_hpa() -> None:
    live, answer = scaled_and_edited()
    live["metadata"]["managedFields"][1]["manager"] = "kubectl"  # a person scaled it, not the HPA
    result = compare(DEPLOYMENT, live, answer, (rule(managers=("kube-controller-manager",)),), ())
    assert [f.path for f in result.fields] == ["/spec/replicas", "/spec/template/spec/containers/0/image"]
    assert result.fields[0].managers == ("kubectl",)


@pytest.mark.parametrize(
    ("target", "matches"),
    [
        (DriftTarget(), True),
        (DriftTarget(kind="Deployment"), True),
        (DriftTarget(kind="StatefulSet"), False),
        (DriftTarget(kind="Deploy*", name="a?i", namespace="w*"), True),
        (DriftTarget(name="API"), False),  # globs are case-sensitive, like Kubernetes names
        (DriftTarget(labels={"autoscaled": "true"}), True),
        (DriftTarget(labels={"autoscaled": "true", "app": "other"}), False),
        (DriftTarget(namespace="web", labels={"missing": "x"}), False),
    ],
)
def test_targets(target: DriftTarget, matches: bool) -> None:
    assert target_matches(target, DEPLOYMENT, live_deployment()["metadata"]["labels"]) is matches


def test_a_rule_for_another_target_ignores_nothing() -> None:
    live, answer = scaled_and_edited()
    rules = (rule(paths=("/spec",), target=DriftTarget(name="other")),)
    result = compare(DEPLOYMENT, live, answer, rules, ())
    assert len(result.fields) == 2 and result.ignored == ()


def test_first_matching_rule_wins() -> None:
    first = rule(paths=("/spec",), reason="first")
    second = rule(paths=("/spec/replicas",), reason="second")
    fields = [FieldDrift("/spec/replicas", FieldChange.changed, 5, 2)]
    kept, ignored = apply_rules(DEPLOYMENT, live_deployment(), fields, (first, second))
    assert kept == () and ignored[0].rule.endswith(": first")


def test_whole_object_rules_and_the_opt_out_annotation() -> None:
    labels = live_deployment()["metadata"]["labels"]
    assert whole_object_rule((rule(paths=("",), target=DriftTarget(kind="Deployment")),), DEPLOYMENT, labels)
    assert whole_object_rule((rule(paths=("/spec",)),), DEPLOYMENT, labels) is None
    annotated = {"metadata": {"annotations": {"gripctl.dev/drift": "ignore"}}}
    assert opted_out(None, annotated) and opted_out(annotated, None)
    assert not opted_out({"metadata": {"annotations": {"gripctl.dev/drift": "check"}}}, live_deployment())


SECRET = ObjectRef("v1", "Secret", "web", "creds")


def test_secret_values_are_masked_keeping_which_key_changed() -> None:
    password, changed = "hunter2-very-secret", "hunter3-also-secret"
    live = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds", "annotations": {"note": f"copy of {password}"}},
        "data": {"password": base64.b64encode(changed.encode()).decode(), "user": "YWRtaW4="},
        "type": "Opaque",
    }
    answer = copy.deepcopy(live)
    answer["data"]["password"] = base64.b64encode(password.encode()).decode()
    answer["data"]["token"] = base64.b64encode(b"token-value-123").decode()
    answer["metadata"]["annotations"]["note"] = "rotated"
    hidden = sorted(secret_strings([answer, live]), key=len, reverse=True)
    result = compare(SECRET, live, answer, (), hidden)
    text = json.dumps(result.to_dict())
    for value in (password, changed, "token-value-123", "YWRtaW4="):
        assert value not in text
        assert base64.b64encode(value.encode()).decode() not in text
    by_path = {f.path: f for f in result.fields}
    assert set(by_path) == {"/data/password", "/data/token", "/metadata/annotations/note"}
    assert (by_path["/data/password"].live, by_path["/data/password"].desired) == ("<secret>", "<secret>")
    assert by_path["/data/token"].change is FieldChange.removed
    assert by_path["/metadata/annotations/note"].live == "copy of <secret>"


def test_a_secret_value_inlined_elsewhere_is_masked_too() -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "stringData": {"dsn": "postgres://u:pw-123456@db/app"}}
    hidden = sorted(secret_strings([secret]), key=len, reverse=True)
    ref = ObjectRef("v1", "ConfigMap", "web", "cfg")
    live = {"data": {"url": "postgres://u:pw-123456@db/app"}}
    answer = {"data": {"url": "postgres://u:other-99999@db/app"}}
    result = compare(ref, live, answer, (), hidden)
    assert result.fields[0].live == "<secret>"
    assert result.fields[0].desired == "postgres://u:other-99999@db/app"


def test_manifest_objects_expand_lists_and_skip_empty_documents() -> None:
    manifest = (
        "---\n# Source: x/templates/a.yaml\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"
        "---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Service, metadata: {name: b}}\n"
    )
    assert [o["metadata"]["name"] for o in manifest_objects(manifest)] == ["a", "b"]
    with pytest.raises(ConfigError, match="the stored manifest of 010-web is not valid YAML"):
        manifest_objects("a: [b\n", what="the stored manifest of 010-web")


def manifest_of_deployment() -> dict[str, Any]:
    """What the release applied: the api container only, two replicas, no annotations."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api", "labels": {"app": "api"}},
        "spec": {
            "replicas": 2,
            "template": {
                "spec": {"containers": [{"name": "api", "image": "api:1.0", "args": ["--port", "80"]}]}
            },
        },
    }


def test_fields_set_by_hand_that_the_release_leaves_alone_are_added_drift() -> None:
    live = live_deployment()
    fields = live["metadata"]["managedFields"]
    fields.append(
        {
            "manager": "kubectl-annotate",
            "operation": "Update",
            "fieldsV1": {"f:metadata": {"f:annotations": {"f:note": {}}}},
        }
    )
    fields.append(
        {
            "manager": "kubectl-rollout",
            "operation": "Update",
            "fieldsV1": {
                "f:spec": {
                    "f:template": {
                        "f:metadata": {"f:annotations": {"f:kubectl.kubernetes.io/restartedAt": {}}}
                    }
                }
            },
        }
    )
    live["metadata"]["annotations"]["note"] = "paged at 3am, scaled by hand"
    live["spec"]["template"]["metadata"] = {
        "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-12-01"}
    }
    result = compare(DEPLOYMENT, live, dry_run_of(live), (), (), manifest_of_deployment())
    assert result.state is DriftState.drifted
    assert result.fields == (
        FieldDrift(
            "/metadata/annotations/note",
            FieldChange.added,
            "paged at 3am, scaled by hand",
            None,
            ("kubectl-annotate",),
        ),
        FieldDrift(
            "/spec/template/spec/containers/1",
            FieldChange.added,
            {"name": "sidecar", "image": "proxy:2"},
            None,
            ("kubectl-edit",),
        ),
    )  # the restart annotation is not configuration; the controller's replicas are not a person's


def test_a_field_the_release_sets_is_not_added_again() -> None:
    live = live_deployment()
    manifest = manifest_of_deployment()
    manifest["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "proxy:2"})
    result = compare(DEPLOYMENT, live, dry_run_of(live), (), (), manifest)
    assert result.state is DriftState.in_sync


def test_added_fields_follow_the_ignore_rules() -> None:
    live = live_deployment()
    rules = (rule(managers=("kubectl-edit",), reason="sidecars are injected by hand in staging"),)
    result = compare(DEPLOYMENT, live, dry_run_of(live), rules, (), manifest_of_deployment())
    assert result.fields == ()
    assert [i.path for i in result.ignored] == ["/spec/template/spec/containers/1"]


def test_a_live_object_holding_the_whole_manifest_needs_no_dry_run() -> None:
    from gripctl.observe.drift import contained, manifest_in_live

    live = live_deployment()
    manifest = manifest_of_deployment()
    manifest["spec"]["replicas"] = 5  # as live
    assert not manifest_in_live(manifest, live)  # the sidecar live: a list of another length
    live["spec"]["template"]["spec"]["containers"].pop()
    assert manifest_in_live(manifest, live)  # defaults, status and server metadata live do not matter
    for change in (
        lambda m: m["spec"].update(replicas=2),  # a value differs
        lambda m: m["metadata"]["labels"].update(tier="web"),  # a label live lacks
        lambda m: m["spec"]["template"]["spec"]["containers"][0]["args"].append("-v"),  # list length
        lambda m: m["spec"].update(paused=None),  # null in the manifest: let the dry run decide
        lambda m: m["spec"].update(replicas=5.5),
    ):
        changed = manifest_of_deployment()
        changed["spec"]["replicas"] = 5
        change(changed)
        assert not manifest_in_live(changed, live)
    assert contained({"a": [1, {"b": True}]}, {"a": [1, {"b": True, "c": 0}], "d": 1})
    assert not contained({"a": True}, {"a": 1})  # a bool is not a number here
    assert contained({"a": 1}, {"a": 1.0})


def test_secret_string_data_is_compared_as_the_data_the_server_stores() -> None:
    from gripctl.observe.drift import manifest_in_live

    manifest = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "stringData": {"pw": "hunter22"},
    }
    live = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "type": "Opaque"}
    live["data"] = {"pw": base64.b64encode(b"hunter22").decode()}
    assert manifest_in_live(manifest, live)
    live["data"]["pw"] = base64.b64encode(b"changed!").decode()
    assert not manifest_in_live(manifest, live)
