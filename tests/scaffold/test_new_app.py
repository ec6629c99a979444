"""gripctl new app: a new application in a copy of the example platform validates clean; every bad input
fails with a message that says what and what to do, and leaves every file as it was.

Real copier, real sops and age (the example's TEST ONLY key), real helm through `gripctl validate`.
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path

import pytest
import yaml
from scaffold_helpers import (
    commit_all,
    copy_webgrip,
    git,
    gripctl,
    retag,
    snapshot,
    sops_decrypt,
    team_template,
)

from gripctl.errors import SecretsError, TemplateError, UsageError
from gripctl.model import Graph, load_platform
from gripctl.scaffold.apps import create_app
from gripctl.scaffold.template import packaged_version


@pytest.fixture
def webgrip(tmp_path: Path) -> Path:
    return copy_webgrip(tmp_path)


def test_new_app_renders_everything_and_validates_clean(webgrip: Path) -> None:
    before_config = (webgrip / "gripctl.yaml").read_text()
    done = gripctl(
        webgrip,
        "-o",
        "json",
        "new",
        "app",
        "billing",
        "--number",
        "955",
        "--needs",
        "030-ingress-controllers",
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["release_id"] == "955-billing"
    assert result["template_version"] == f"v{packaged_version()}"
    for path in (
        "ops/helm/955-billing/Chart.yaml",
        "ops/helm/955-billing/templates/networkpolicy.yaml",
        "ops/helm/955-billing/.copier-answers.yml",
        "ops/secrets/955-billing-secrets/Chart.yaml",
        "ops/secrets/955-billing-secrets/values.sops.yaml",
        "envs/staging/955-billing.yaml",
        "envs/production/955-billing.yaml",
        "docs/apps/955-billing.md",
    ):
        assert path in result["files"]
        assert (webgrip / path).is_file()

    # gripctl.yaml: only lines added, every comment and style kept, the entry in numeric order.
    after_config = (webgrip / "gripctl.yaml").read_text()
    diff = [
        line
        for line in difflib.ndiff(before_config.splitlines(), after_config.splitlines())
        if line[:1] in "+-"
    ]
    assert diff == ["+   955-billing:", "+     needs: [030-ingress-controllers]"]
    assert after_config.index("955-billing:") > after_config.index("950-example-services:")

    # The secrets are encrypted for the recipients of .sops.yaml, and hold a fresh random value.
    sops_file = webgrip / "ops/secrets/955-billing-secrets/values.sops.yaml"
    rule = yaml.safe_load((webgrip / ".sops.yaml").read_text())["creation_rules"][0]
    assert result["encrypted_for"] == [rule["age"]]
    assert "ENC[AES256_GCM" in sops_file.read_text()
    secret = sops_decrypt(sops_file)["appSecret"]
    assert len(secret) >= 32 and secret not in sops_file.read_text()

    platform = load_platform(webgrip, "production")
    release = platform.releases["955-billing"]
    assert release.namespace == "billing"
    assert release.values_files[-1] == webgrip / "envs/production/955-billing.yaml"
    graph = Graph.from_platform(platform)
    assert graph.needs("955-billing") == ["030-ingress-controllers", "955-billing-secrets"]
    values = yaml.safe_load((webgrip / "ops/helm/955-billing/values.yaml").read_text())
    assert values["networkPolicy"]["allowFrom"] == ["ingress-controllers"]  # the namespace of its need

    validated = gripctl(webgrip, "-o", "json", "validate")
    assert validated.returncode == 0, validated.stdout + validated.stderr
    report = json.loads(validated.stdout)
    findings = [
        f for f in report["findings"] if f["severity"] in ("error", "warning") and not f.get("suppressed")
    ]
    assert findings == []
    assert {"955-billing", "955-billing-secrets"} <= set(report["releases"])
    assert report["summary"]["error"] == 0 and report["summary"]["warning"] == 0


def test_number_defaults_to_the_next_ten_and_needs_are_optional(webgrip: Path) -> None:
    created = create_app(webgrip, "reports")
    assert created.plan.release_id == "960-reports"
    assert created.plan.needs == ()
    text = (webgrip / "gripctl.yaml").read_text()
    assert "  960-reports:\n    needs: []\n" in text
    assert load_platform(webgrip).releases["960-reports"].needs == ("960-reports-secrets",)


def test_a_team_template_from_a_git_repository(webgrip: Path, tmp_path: Path) -> None:
    repo = team_template(tmp_path)
    values = repo / "[[ charts_dir ]]/[[ release_id ]]/values.yaml.jinja"
    values.write_text(values.read_text().replace("port: [[ port ]]", "port: [[ port ]]\nteam: payments"))
    commit_all(repo, "team values")
    git(repo, "tag", "-f", "v1.0.0")
    created = create_app(webgrip, "ledger", number=958, needs=("060-grafana-stack",), template=str(repo))
    assert created.template == str(repo) and created.template_version == "v1.0.0"
    assert "team: payments" in (webgrip / "ops/helm/958-ledger/values.yaml").read_text()
    answers = yaml.safe_load((webgrip / "ops/helm/958-ledger/.copier-answers.yml").read_text())
    assert answers["_src_path"] == str(repo)


# --- bad input: a clear error, and nothing written ----------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("example-services",), "the name 'example-services' is taken by release 950-example-services"),
        (("billing", "--number", "950"), "the number 950 is taken by release 950-example-services"),
        (
            ("billing", "--number", "25", "--needs", "030-ingress-controllers"),
            "number 025 would put 025-billing before 030-ingress-controllers, which it needs",
        ),
        (
            ("billing", "--needs", "030-ingress"),
            "--needs names '030-ingress', but the platform has no release '030-ingress'",
        ),
        (("Billing_API",), "app name 'Billing_API' must be lowercase letters, digits and dashes"),
        (("billing", "--needs", "060-grafana-stack-secrets"), "--needs names the secrets release"),
        (("billing", "--number", "1000"), "--number must be between 1 and 999"),
    ],
)
def test_bad_input_is_refused_with_nothing_written(
    webgrip: Path, args: tuple[str, ...], message: str
) -> None:
    before = snapshot(webgrip)
    done = gripctl(webgrip, "new", "app", *args)
    assert done.returncode == 64, done.stderr
    assert message in " ".join(done.stderr.split())
    assert "hint:" in done.stderr or "between" in done.stderr or "lowercase" in done.stderr
    assert snapshot(webgrip) == before


def test_unknown_needs_suggests_the_close_name(webgrip: Path) -> None:
    done = gripctl(webgrip, "new", "app", "billing", "--needs", "030-ingress-controller")
    assert done.returncode == 64
    assert "did you mean '030-ingress-controllers'?" in done.stderr


def test_needs_on_a_platform_ordered_by_number_alone_is_refused(webgrip: Path) -> None:
    config = webgrip / "gripctl.yaml"
    config.write_text(re.sub(r"\n    needs: \[[^\]]*\][^\n]*", "", config.read_text()))
    before = snapshot(webgrip)
    with pytest.raises(UsageError) as caught:
        create_app(webgrip, "billing", number=955, needs=("030-ingress-controllers",))
    assert "declares no needs, so its releases are ordered by number alone" in caught.value.message
    assert snapshot(webgrip) == before
    # Without --needs it is fine: the number chains it after 950.
    create_app(webgrip, "billing", number=955)
    assert Graph.from_platform(load_platform(webgrip)).needs("955-billing")[0] == "950-example-services"


def test_no_sops_rule_for_the_secrets_is_refused_with_nothing_written(webgrip: Path) -> None:
    rules = webgrip / ".sops.yaml"
    rules.write_text(rules.read_text().replace("ops/secrets/", "elsewhere/"))
    before = snapshot(webgrip)
    with pytest.raises(SecretsError) as caught:
        create_app(webgrip, "billing", number=955)
    assert "no creation rule in .sops.yaml matches ops/secrets/955-billing-secrets/values.sops.yaml" in str(
        caught.value
    )
    assert snapshot(webgrip) == before


def test_a_rule_that_would_leave_the_secret_in_plaintext_is_refused(webgrip: Path) -> None:
    rules = webgrip / ".sops.yaml"
    rules.write_text(re.sub(r"encrypted_regex: .*", "encrypted_regex: ^password$", rules.read_text()))
    before = snapshot(webgrip)
    with pytest.raises(SecretsError) as caught:
        create_app(webgrip, "billing", number=955)
    assert "leaves appSecret in plaintext" in caught.value.message
    assert snapshot(webgrip) == before


def test_an_existing_file_in_the_way_is_refused(webgrip: Path) -> None:
    (webgrip / "docs" / "apps").mkdir()
    (webgrip / "docs" / "apps" / "955-billing.md").write_text("# mine\n")
    before = snapshot(webgrip)
    with pytest.raises(UsageError) as caught:
        create_app(webgrip, "billing", number=955)
    assert "would overwrite docs/apps/955-billing.md" in caught.value.message
    assert snapshot(webgrip) == before


def test_a_missing_template_and_a_broken_one_are_refused(webgrip: Path, tmp_path: Path) -> None:
    before = snapshot(webgrip)
    with pytest.raises(UsageError) as caught:
        create_app(webgrip, "billing", number=955, template=str(tmp_path / "nothing"))
    assert "does not exist" in caught.value.message
    broken = team_template(tmp_path)
    chart = broken / "[[ charts_dir ]]"
    chart.rename(broken / "charts")
    retag(broken, "v1.0.1", "charts in the wrong place")
    with pytest.raises(TemplateError) as caught_template:
        create_app(webgrip, "billing", number=955, template=str(broken))
    assert "rendered no ops/helm/955-billing/Chart.yaml" in caught_template.value.message
    assert snapshot(webgrip) == before
