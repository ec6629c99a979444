"""Pure parts around drift: decoding helm's stored release records, and the result's exit code,
summary and fingerprint (what the follow-ups — ledger records, notifications — will key on)."""

from __future__ import annotations

import base64
import gzip
import json

from gripctl.adapters.helm_storage import decode_record
from gripctl.observe.drift import DriftState, FieldChange, FieldDrift, ObjectDrift, ObjectRef
from gripctl.service.drift import DriftResult, ReleaseDrift, ReleaseDriftStatus, _status, _summary


def stored(record: dict[str, object], *, gzipped: bool = True) -> str:
    """A Secret's `release` value as the API returns it: base64 (Kubernetes) of base64 (helm) of gzip."""
    raw = json.dumps(record).encode()
    helm_encoded = base64.b64encode(gzip.compress(raw) if gzipped else raw)
    return base64.b64encode(helm_encoded).decode()


def test_decode_record_reads_helms_encoding_gzipped_or_not() -> None:
    record = {"name": "web", "version": 3, "info": {"status": "deployed"}, "manifest": "---\nkind: X\n"}
    assert decode_record(stored(record)) == record
    assert decode_record(stored(record, gzipped=False)) == record


def test_decode_record_refuses_garbage_without_raising() -> None:
    assert decode_record("not base64!") is None
    assert decode_record(base64.b64encode(base64.b64encode(b"\x1f\x8b\x08garbage")).decode()) is None
    assert decode_record(base64.b64encode(base64.b64encode(b"[1, 2]")).decode()) is None


REF = ObjectRef("apps/v1", "Deployment", "web", "api")


def drifted(path: str, live: object = 5) -> ObjectDrift:
    return ObjectDrift(REF, DriftState.drifted, (FieldDrift(path, FieldChange.changed, live, 2),))


def release(status: ReleaseDriftStatus, *objects: ObjectDrift) -> ReleaseDrift:
    return ReleaseDrift("010-web", "web", "web", status, revision=1, objects=objects)


def result(*releases: ReleaseDrift) -> DriftResult:
    return DriftResult("staging", "ctx", "2026-12-01T00:00:00+00:00", 0.5, releases)


def test_exit_codes() -> None:
    in_sync = ObjectDrift(REF, DriftState.in_sync)
    assert result(release(ReleaseDriftStatus.in_sync, in_sync)).exit_code == 0
    assert result(release(ReleaseDriftStatus.absent)).exit_code == 0
    assert result(release(ReleaseDriftStatus.unsettled)).exit_code == 0
    assert result(release(ReleaseDriftStatus.drifted, drifted("/spec/replicas"))).exit_code == 2
    error = ObjectDrift(REF, DriftState.error, message="the API server refused (403): forbidden")
    both = release(ReleaseDriftStatus.error, error, drifted("/spec/replicas"))
    assert result(both).exit_code == 1  # drift known for some, unknown for others: an error
    assert result(both).to_dict()["drifted"] is True


def test_status_and_summary_of_a_release() -> None:
    objects = (
        drifted("/a"),
        ObjectDrift(REF, DriftState.deleted),
        ObjectDrift(REF, DriftState.ignored),
        ObjectDrift(REF, DriftState.in_sync),
    )
    assert _status(objects) is ReleaseDriftStatus.drifted
    assert _summary(objects) == "4 objects checked (0 by dry run): 1 drifted, 1 deleted, 1 ignored"
    assert _summary((ObjectDrift(REF, DriftState.in_sync, dry_run=True),)) == (
        "1 object checked (1 by dry run), all in sync"
    )


def test_fingerprint_is_about_what_drifted_not_values() -> None:
    a = release(ReleaseDriftStatus.drifted, drifted("/spec/replicas", live=5))
    b = release(ReleaseDriftStatus.drifted, drifted("/spec/replicas", live=7))
    c = release(ReleaseDriftStatus.drifted, drifted("/spec/paused"))
    assert a.fingerprint == b.fingerprint != c.fingerprint
    document = a.to_dict()
    assert document["fingerprint"] == a.fingerprint
    assert document["objects"][0]["fields"] == [
        {"path": "/spec/replicas", "change": "changed", "live": 5, "desired": 2, "managers": []}
    ]
    assert release(ReleaseDriftStatus.in_sync).to_dict()["fingerprint"] is None
