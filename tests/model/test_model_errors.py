"""Bad platform input: each mistake gives one clear error naming what, where and what next — and the
repository is left exactly as it was (loading only reads)."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path

import pytest
from model_helpers import PlatformFactory, snapshot

from gripctl.errors import ConfigError, GripError, Location
from gripctl.model import environment_names, load_platform


def load_error(root: Path, environment: str | None = None) -> GripError:
    before = snapshot(root)
    with pytest.raises(GripError) as info:
        load_platform(root, environment)
    assert snapshot(root) == before, "loading a platform must not change any file"
    return info.value


def test_yaml_syntax_error_names_line_and_column(make_platform: PlatformFactory) -> None:
    root = make_platform("apiVersion: gripctl/v1\nreleases:\n  010-a:\n    needs: [005-b\n  020-c: {}\n")
    err = load_error(root)
    assert isinstance(err, ConfigError)
    assert err.message == "YAML syntax error: expected ',' or ']', but got ':'"
    assert err.location == Location("gripctl.yaml", 5, 8)
    assert str(err).startswith("gripctl.yaml:5:8: YAML syntax error")


def test_duplicate_yaml_key_is_a_syntax_error(make_platform: PlatformFactory) -> None:
    root = make_platform("apiVersion: gripctl/v1\nreleases:\n  010-a: {}\n  010-a: {}\n", charts=["010-a"])
    err = load_error(root)
    assert 'found duplicate key "010-a"' in err.message
    assert err.location is not None and err.location.line == 4


def test_unknown_key_with_did_you_mean(make_platform: PlatformFactory) -> None:
    root = make_platform(
        """
        apiVersion: gripctl/v1
        releases:
          010-cert-manager: {}
          020-cluster-issuers:
            neds: [010-cert-manager]
        """,
        charts=["010-cert-manager", "020-cluster-issuers"],
    )
    err = load_error(root)
    assert str(err) == (
        "gripctl.yaml:5:5 (releases.020-cluster-issuers.neds): unknown key 'neds'\n"
        "  hint: did you mean 'needs'?"
    )
    assert err.exit_code == 2


def test_unknown_top_level_key_without_close_match_lists_allowed(make_platform: PlatformFactory) -> None:
    root = make_platform("apiVersion: gripctl/v1\nfrobnicate: 1\n")
    err = load_error(root)
    assert err.message == "unknown key 'frobnicate'"
    assert err.location == Location("gripctl.yaml", 2, 1, "frobnicate")
    assert err.hint is not None and err.hint.startswith("allowed keys: apiVersion, charts, secrets")


def test_needs_naming_no_release(make_platform: PlatformFactory) -> None:
    root = make_platform(
        """
        apiVersion: gripctl/v1
        releases:
          020-cluster-issuers:
            needs: [010-cert-manger]
        """,
        charts=["010-cert-manager", "020-cluster-issuers"],
    )
    err = load_error(root)
    assert (
        err.message
        == "release '020-cluster-issuers' needs '010-cert-manger', but there is no release '010-cert-manger'"
    )
    assert err.location == Location("gripctl.yaml", 4, 13, "releases.020-cluster-issuers.needs[0]")
    assert err.hint == "did you mean '010-cert-manager'?"


def test_dependency_cycle_is_named(make_platform: PlatformFactory) -> None:
    root = make_platform(
        """
        apiVersion: gripctl/v1
        releases:
          010-a:
            needs: [030-c]
          020-b:
            needs: [010-a]
          030-c:
            needs: [020-b]
          040-d:
            needs: [010-a]
        """,
        charts=["010-a", "020-b", "030-c", "040-d"],
    )
    err = load_error(root)
    assert isinstance(err, ConfigError)
    assert err.message == "dependency cycle: 010-a -> 030-c -> 020-b -> 010-a"
    assert err.location == Location("gripctl.yaml", 4, 5, "releases.010-a.needs")


def test_release_needing_itself_is_a_cycle(make_platform: PlatformFactory) -> None:
    root = make_platform("apiVersion: gripctl/v1\nreleases:\n  010-a: {needs: [010-a]}\n", charts=["010-a"])
    assert load_error(root).message == "dependency cycle: 010-a -> 010-a"


def test_two_releases_with_the_same_helm_name(make_platform: PlatformFactory) -> None:
    root = make_platform("apiVersion: gripctl/v1\n", charts=["010-grafana", "020-grafana"])
    err = load_error(root)
    assert err.message == (
        "releases '010-grafana' (ops/helm/010-grafana) and '020-grafana' (ops/helm/020-grafana) "
        "are both Helm release 'grafana' in namespace 'grafana'"
    )
    assert err.location == Location("ops/helm/020-grafana")
    assert err.hint is not None and "name: or namespace:" in err.hint


def test_same_helm_name_through_name_override(make_platform: PlatformFactory) -> None:
    root = make_platform(
        """
        apiVersion: gripctl/v1
        releases:
          020-b:
            name: a
            namespace: a
        """,
        charts=["010-a", "020-b"],
    )
    err = load_error(root)
    assert "'010-a' (ops/helm/010-a) and '020-b' (ops/helm/020-b) are both Helm release 'a'" in err.message
    assert err.location == Location("gripctl.yaml", 4, 5, "releases.020-b.name")


def test_two_releases_with_the_same_id(make_platform: PlatformFactory) -> None:
    # A chart folder named like a secrets release, and the secrets release itself.
    root = make_platform(
        "apiVersion: gripctl/v1\n", charts=["010-a", "010-a-secrets"], secrets=["010-a-secrets"]
    )
    err = load_error(root)
    assert (
        err.message
        == "two releases have the id '010-a-secrets': ops/helm/010-a-secrets and ops/secrets/010-a-secrets"
    )


def test_chart_folder_without_chart_yaml(make_platform: PlatformFactory) -> None:
    root = make_platform("apiVersion: gripctl/v1\n", charts=["010-a"])
    (root / "ops/helm/020-b/templates").mkdir(parents=True)
    err = load_error(root)
    assert err.message == "release folder ops/helm/020-b has no Chart.yaml"
    assert err.location == Location("ops/helm/020-b")


def test_values_file_that_does_not_exist(make_platform: PlatformFactory) -> None:
    root = make_platform(
        """
        apiVersion: gripctl/v1
        releases:
          010-a:
            values:
              production: [envs/production/a.yaml]
        environments:
          staging: {}
          production: {}
        """,
        charts=["010-a"],
    )
    # Found while loading staging: a broken production reference should not wait for production.
    err = load_error(root, "staging")
    assert err.message == "values file 'envs/production/a.yaml' does not exist"
    assert err.location == Location("gripctl.yaml", 5, 20, "releases.010-a.values.production[0]")


def test_environment_values_file_that_does_not_exist(make_platform: PlatformFactory) -> None:
    root = make_platform("apiVersion: gripctl/v1\nenvironments:\n  staging:\n    values: [nope.yaml]\n")
    err = load_error(root)
    assert err.message == "values file 'nope.yaml' does not exist"
    assert err.location == Location("gripctl.yaml", 4, 14, "environments.staging.values[0]")


def test_values_file_that_is_a_directory(make_platform: PlatformFactory) -> None:
    root = make_platform("apiVersion: gripctl/v1\nenvironments:\n  staging:\n    values: [envs/x]\n")
    (root / "envs/x").mkdir(parents=True)
    assert load_error(root).message == "values file 'envs/x' is not a regular file"


def test_values_for_an_undeclared_environment(make_platform: PlatformFactory) -> None:
    root = make_platform(
        """
        apiVersion: gripctl/v1
        releases:
          010-a:
            values: {prod: [a.yaml]}
        environments:
          production: {}
        """,
        charts=["010-a"],
        files={"a.yaml": "x: 1\n"},
    )
    err = load_error(root)
    assert err.message == "values for unknown environment 'prod'"
    assert err.hint == "did you mean 'production'?"


def test_environment_that_does_not_exist(make_platform: PlatformFactory) -> None:
    root = make_platform("apiVersion: gripctl/v1\nenvironments:\n  staging: {}\n  production: {}\n")
    err = load_error(root, "qa")
    assert err.message == "no environment named 'qa' in gripctl.yaml"
    assert err.hint == "known environments: staging, production"
    assert err.exit_code == 64


def test_environment_named_when_none_are_declared(make_platform: PlatformFactory) -> None:
    root = make_platform("apiVersion: gripctl/v1\n")
    err = load_error(root, "staging")
    assert err.hint == "known environments: (none declared: leave -e out to use 'default')"


def test_api_version_missing(make_platform: PlatformFactory) -> None:
    root = make_platform("releases: {}\n")
    err = load_error(root)
    assert err.message == "apiVersion is missing"
    assert err.hint == "start the file with: apiVersion: gripctl/v1"


def test_api_version_unknown_names_supported(make_platform: PlatformFactory) -> None:
    root = make_platform("apiVersion: gripctl/v2\n")
    err = load_error(root)
    assert err.message == "unsupported apiVersion 'gripctl/v2'"
    assert err.location == Location("gripctl.yaml", 1, 1, "apiVersion")
    assert err.hint == "supported: gripctl/v1"


def test_config_that_is_not_a_mapping(make_platform: PlatformFactory) -> None:
    root = make_platform("- apiVersion: gripctl/v1\n")
    assert load_error(root).message == "gripctl.yaml must be a mapping of keys, not a list"


def test_missing_config_file(make_platform: PlatformFactory) -> None:
    root = make_platform(None, charts=["010-a"])
    err = load_error(root)
    assert err.message == f"no gripctl.yaml in {root}"
    assert err.hint == "run gripctl inside the platform repository, or pass --root PATH"


def test_config_that_is_a_directory(make_platform: PlatformFactory) -> None:
    root = make_platform(None)
    (root / "gripctl.yaml").mkdir()
    err = load_error(root)
    assert err.message == "gripctl.yaml is a directory; expected a YAML file"
    assert err.location == Location("gripctl.yaml")


@pytest.mark.timeout(10)
def test_config_that_is_a_fifo_does_not_hang(make_platform: PlatformFactory) -> None:
    # Opening a FIFO for reading blocks until a writer appears: the loader must look before it opens.
    root = make_platform(None)
    os.mkfifo(root / "gripctl.yaml")
    err = load_error(root)
    assert err.message == "gripctl.yaml is not a regular file; expected a YAML file"
    with pytest.raises(ConfigError, match="not a regular file"):
        environment_names(root)


def _drop_file_permission_override() -> None:
    """In the child, before exec: remove CAP_DAC_OVERRIDE (1) and CAP_DAC_READ_SEARCH (2) from the
    capability bounding set, so that even uid 0 is refused a mode-000 file by the kernel."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # 24 = PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_unreadable_config_file(make_platform: PlatformFactory) -> None:
    """chmod 000 only denies reading to a process without CAP_DAC_OVERRIDE; the tests run as root, so
    the load runs in a child process that gives those capabilities up — a real permission check."""
    root = make_platform("apiVersion: gripctl/v1\n", charts=["010-a"])
    (root / "gripctl.yaml").chmod(0o000)
    before = snapshot(root)
    code = (
        "import sys\nfrom pathlib import Path\nfrom gripctl.model import load_platform\n"
        "from gripctl.errors import GripError\n"
        "try:\n    load_platform(Path(sys.argv[1]))\n"
        "except GripError as exc:\n    print(str(exc)); sys.exit(3)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(root)],
        capture_output=True,
        text=True,
        preexec_fn=_drop_file_permission_override if os.geteuid() == 0 else None,
        check=False,
    )
    assert result.returncode == 3, result.stderr
    assert result.stdout.startswith(
        "gripctl.yaml: cannot read gripctl.yaml: permission denied (running as uid "
    )
    assert "hint: check the file's owner and mode: ls -l gripctl.yaml" in result.stdout
    assert snapshot(root) == before


def test_secrets_folder_for_a_release_that_does_not_exist(make_platform: PlatformFactory) -> None:
    root = make_platform(
        "apiVersion: gripctl/v1\n", charts=["010-cert-manager"], secrets=["010-cert-manger-secrets"]
    )
    err = load_error(root)
    assert err.message == (
        "secrets folder ops/secrets/010-cert-manger-secrets serves release '010-cert-manger', "
        "which does not exist"
    )
    assert err.hint == "did you mean '010-cert-manager'?"


def test_secrets_folder_without_sops_file(make_platform: PlatformFactory) -> None:
    root = make_platform("apiVersion: gripctl/v1\n", charts=["010-a"], secrets=["010-a-secrets"])
    (root / "ops/secrets/010-a-secrets/values.sops.yaml").unlink()
    err = load_error(root)
    assert err.message == "secrets folder ops/secrets/010-a-secrets has no values.sops.yaml"


def test_override_for_a_release_that_has_no_folder(make_platform: PlatformFactory) -> None:
    root = make_platform(
        "apiVersion: gripctl/v1\nreleases:\n  010-cert-manger: {}\n", charts=["010-cert-manager"]
    )
    err = load_error(root)
    assert err.message == "release '010-cert-manger' has no folder ops/helm/010-cert-manger and no chart:"
    assert err.location == Location("gripctl.yaml", 3, 3, "releases.010-cert-manger")
    assert err.hint == "did you mean '010-cert-manager'?"


@pytest.mark.parametrize(
    ("snippet", "message", "key_path"),
    [
        ("defaults: {timeout: soon}", "invalid duration 'soon'", "defaults.timeout"),
        ("defaults: {remediation: rolback}", "invalid value 'rolback'", "defaults.remediation"),
        (
            "environments: {staging: {concurrency: 0}}",
            "expected a whole number of at least 1, got 0",
            "environments.staging.concurrency",
        ),
        (
            "environments: {staging: {approval: maybe}}",
            "invalid value 'maybe'",
            "environments.staging.approval",
        ),
        (
            "releases: {010-a: {needs: {x: 1}}}",
            "expected a list of strings, got a mapping",
            "releases.010-a.needs",
        ),
        (
            "releases: {010-a: {name: Bad_Name}}",
            "name 'Bad_Name' is not a valid Kubernetes name "
            "(lowercase letters, digits and dashes, at most 53 characters)",
            "releases.010-a.name",
        ),
        (
            "releases: {010-a: {health: {http: [{url: issuer/healthz}]}}}",
            "health check url 'issuer/healthz' must start with http:// or https://",
            "releases.010-a.health.http[0].url",
        ),
        ("charts: ops/charts", "charts folder 'ops/charts' does not exist", "charts"),
    ],
)
def test_invalid_values_are_located(
    make_platform: PlatformFactory, snippet: str, message: str, key_path: str
) -> None:
    root = make_platform(f"apiVersion: gripctl/v1\n{snippet}\n", charts=["010-a"])
    err = load_error(root)
    assert isinstance(err, ConfigError)
    assert err.message == message
    assert err.location is not None
    assert err.location.key_path == key_path
    assert err.location.line == 2


def test_approval_and_server_settings(make_platform: PlatformFactory) -> None:
    root = make_platform(
        "apiVersion: gripctl/v1\napprovals: {allowed_signers: keys/allowed_signers}\n"
        "server: {url: 'https://gripctl.example.com/'}\nenvironments:\n"
        "  production: {approval: required, approval_expiry: 12h, four_eyes: false}\n  staging: {}\n",
        files={"keys/allowed_signers": "alice ssh-ed25519 AAAA\n"},
    )
    platform = load_platform(root, "production")
    assert platform.allowed_signers == root / "keys" / "allowed_signers"
    assert platform.server_url == "https://gripctl.example.com"
    assert (
        platform.environment.approval_expiry_seconds == 12 * 3600 and platform.environment.four_eyes is False
    )
    staging = load_platform(root, "staging").environment
    assert staging.approval_expiry_seconds == 24 * 3600 and staging.four_eyes is True


@pytest.mark.parametrize(
    ("text", "where", "says"),
    [
        ("approvals: {allowed_signers: keys/missing}\n", "approvals.allowed_signers", "does not exist"),
        ("approvals: {allowed_signer: x}\n", "approvals.allowed_signer", "unknown key"),
        ("server: {url: gripctl.example.com}\n", "server.url", "is not an http(s) URL"),
        ("environments: {production: {four_eyes: maybe}}\n", "environments.production.four_eyes",
         "true or false"),
        ("environments: {production: {approval_expiry: soon}}\n", "environments.production.approval_expiry",
         "invalid duration"),
    ],
)  # fmt: skip
def test_bad_approval_and_server_settings(
    make_platform: PlatformFactory, text: str, where: str, says: str
) -> None:
    root = make_platform("apiVersion: gripctl/v1\n" + text)
    err = load_error(root, "production" if "production" in text else None)
    assert isinstance(err, ConfigError) and says in err.message, err
    assert err.location is not None and err.location.key_path == where, err.location
