"""The promotion rule (`promote_from`), without a cluster: which releases of a production plan staging
has not run successfully with the same chart version and the same values *as staging renders them*.

Real files and a real SQLite ledger; the plan and snapshot are built by hand (the rule reads only
their actions, chart versions and decrypted secrets). End to end on two sandbox clusters:
tests/e2e/test_e2e_promotion.py.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from gripctl.digest import values_digest
from gripctl.ledger import open_ledger
from gripctl.ledger.store import Ledger
from gripctl.ledger.types import ActionKind, ActionOutcome, RunKind, RunOutcome
from gripctl.model import load_platform
from gripctl.observe.render import user_values
from gripctl.observe.types import DesiredRelease, Snapshot
from gripctl.plan.promotion import Unpromoted, unpromoted
from gripctl.plan.types import Action, Plan, ReleasePlan, ReleaseStatus
from gripctl.service.promotion import override_note, refusal, unproven

CONFIG = """\
apiVersion: gripctl/v1
releases:
  010-web: {set: {tier: web}}
environments:
  staging:
    values: [envs/staging/values.yaml]
  production:
    promote_from: staging
    values: [envs/production/values.yaml]
"""


def _repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for relative, text in {
        "gripctl.yaml": CONFIG,
        "ops/helm/010-web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 1.4.0\n",
        "envs/staging/values.yaml": "replicas: 1\nimage: web:2.0\n",
        "envs/production/values.yaml": "replicas: 3\nimage: web:2.0\n",
    }.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(textwrap.dedent(text))
    return root


def _plan(action: Action) -> Plan:
    rp = ReleasePlan("010-web", "web", "web", action, ReleaseStatus.deployed, 3, "1.3.0", "1.4.0")
    return Plan("production", (rp,), (("010-web",),), "e" * 64, "2026-01-01T00:00:00+00:00")


def _snapshot() -> Snapshot:
    desired = DesiredRelease("010-web", "", "web", "1.4.0", "f" * 64)
    return Snapshot("production", None, {}, {"010-web": desired})


def _staging_succeeded(ledger: Ledger, version: str, digest: str, outcome: RunOutcome) -> None:
    run = ledger.start_run("staging", RunKind.deploy, "ci", None, None)
    action = ledger.begin_action(run, "010-web", ActionKind.upgrade, 2, version, values_digest=digest)
    ledger.finish_action(action, ActionOutcome.succeeded if outcome is RunOutcome.succeeded else "failed", 3)
    ledger.finish_run(run, outcome, None)


def _staging_digest(root: Path) -> str:
    staging = load_platform(root, "staging")
    return values_digest(user_values(staging, staging.release("010-web"), None))


def test_unpromoted_checks_only_releases_the_plan_deploys() -> None:
    asked: list[tuple[str, str, str]] = []

    def never(rid: str, version: str, digest: str) -> bool:
        asked.append((rid, version, digest))
        return False

    expected = {"010-web": ("1.4.0", "a" * 64)}
    assert unpromoted(_plan(Action.noop), expected, never) == [] and asked == []
    assert unpromoted(_plan(Action.upgrade), expected, never) == [Unpromoted("010-web", "1.4.0", "a" * 64)]
    assert asked == [("010-web", "1.4.0", "a" * 64)]


def test_staging_must_have_run_this_chart_version_with_its_own_values_of_this_commit(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    platform = load_platform(root, "production")
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    digest = _staging_digest(root)
    staging_values = user_values(
        load_platform(root, "staging"), load_platform(root, "staging").release("010-web"), None
    )
    assert staging_values == {"replicas": 1, "image": "web:2.0", "tier": "web"}  # files, then set:

    [missing] = unproven(platform, _snapshot(), _plan(Action.upgrade), ledger)
    assert (missing.release_id, missing.chart_version, missing.values_digest) == ("010-web", "1.4.0", digest)

    _staging_succeeded(ledger, "1.4.0", digest, RunOutcome.failed)  # the run failed: it proves nothing
    assert unproven(platform, _snapshot(), _plan(Action.upgrade), ledger) != []
    _staging_succeeded(ledger, "1.3.0", digest, RunOutcome.succeeded)  # the older chart
    assert unproven(platform, _snapshot(), _plan(Action.upgrade), ledger) != []
    _staging_succeeded(ledger, "1.4.0", digest, RunOutcome.succeeded)
    assert unproven(platform, _snapshot(), _plan(Action.upgrade), ledger) == []

    # production's own values change: nothing staging could have run; still proven
    (root / "envs/production/values.yaml").write_text("replicas: 5\nimage: web:2.0\n")
    assert unproven(load_platform(root, "production"), _snapshot(), _plan(Action.upgrade), ledger) == []
    # a values change staging shares (here its own file, as a new image would be): not proven any more
    (root / "envs/staging/values.yaml").write_text("replicas: 1\nimage: web:2.1\n")
    [again] = unproven(load_platform(root, "production"), _snapshot(), _plan(Action.upgrade), ledger)
    assert again.values_digest != digest


def test_the_refusal_names_release_version_and_a_short_digest_and_what_to_do(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    platform = load_platform(root, "production")
    missing = [Unpromoted("010-web", "1.4.0", "0123456789abcdef" * 4)]
    err = refusal(platform, missing)
    assert err.message == (
        "production promotes from staging: 1 release(s) have not succeeded in staging with this chart "
        "version and these values; nothing was changed:\n  010-web: chart 1.4.0, values 0123456789ab"
    )
    assert err.location is not None and err.location.line == 8
    assert (
        err.hint is not None and "`gripctl deploy -e staging`" in err.hint and "--force-promotion" in err.hint
    )
    note = override_note("alice", "staging", missing)
    assert note == (
        "promotion rule overridden by alice (--force-promotion): not yet succeeded in staging: "
        "010-web: chart 1.4.0, values 0123456789ab"
    )


def test_without_promote_from_nothing_is_asked(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    staging = load_platform(root, "staging")
    assert unproven(staging, _snapshot(), _plan(Action.install), ledger) == []
