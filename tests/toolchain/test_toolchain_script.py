"""scripts/toolchain.sh: one cache directory per component, keyed by that component's own inputs; one
printed bin directory of symlinks to them, with `current` pointing at it; a wrapper module behind its pin
refused before anything is built; binaries of a pre-component (legacy) toolchain adopted only when their
Go build info matches the recipe.

Tests that would otherwise build run in a temporary cache whose component directories link to the real
cache's (built by `make setup`), so nothing here compiles."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gripctl.adapters.toolchain import cache_root

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = "scripts/toolchain.sh"
DEFAULT_BINARIES = {
    "helm", "gripctl-helmd", "sops", "age", "age-keygen", "kwok", "kwokctl", "etcd", "kube-apiserver",
    "kube-controller-manager", "kube-scheduler", "kubectl", "actionlint", "prometheus", "promtool",
}  # fmt: skip


def copy_recipe(tmp_path: Path) -> Path:
    """A checkout's recipe (the script and tools/) in tmp_path/repo, free to edit."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy2(ROOT / SCRIPT, repo / SCRIPT)
    shutil.copytree(ROOT / "tools", repo / "tools")
    return repo


def run(repo: Path, *args: str, cache: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "GRIPCTL_CACHE"}
    if cache is not None:
        env["GRIPCTL_CACHE"] = str(cache)
    return subprocess.run([str(repo / SCRIPT), *args], env=env, capture_output=True, text=True, timeout=600)


def keys(repo: Path, *args: str) -> dict[str, str]:
    out = run(repo, "--keys", *args)
    assert out.returncode == 0, out.stderr
    return dict(line.split() for line in out.stdout.splitlines())


def set_pin(repo: Path, name: str, value: str) -> None:
    env = repo / "tools" / "versions.env"
    text, count = re.subn(rf"^{name}=.*$", f"{name}={value}", env.read_text(), flags=re.M)
    assert count == 1
    env.write_text(text)


def link_built_components(repo: Path, cache: Path, *args: str) -> None:
    """Makes the real cache's built components (make setup) visible in a temporary cache."""
    (cache / "toolchain" / "components").mkdir(parents=True)
    for name, key in keys(repo, *args).items():
        built = cache_root() / "toolchain" / "components" / f"{name}-{key}"
        if not (built / ".complete").is_file():
            pytest.fail(f"component {name} is not built ({built}): run `make setup`")
        (cache / "toolchain" / "components" / f"{name}-{key}").symlink_to(built)


def test_a_pin_changes_only_the_keys_of_the_components_that_use_it(tmp_path: Path) -> None:
    repo = copy_recipe(tmp_path)
    before = keys(repo)
    assert set(before) == {"helm", "helmd", "sops", "kwok", "etcd", "kube", "actionlint", "prometheus"}
    assert keys(repo) == before

    def changed_since(previous: dict[str, str]) -> tuple[set[str], dict[str, str]]:
        now = keys(repo)
        return {name for name in now if now[name] != previous[name]}, now

    set_pin(repo, "ACTIONLINT_VERSION", "v1.7.11")
    changed, now = changed_since(before)
    assert changed == {"actionlint"}

    set_pin(repo, "AGE_VERSION", "v1.3.1")
    changed, now = changed_since(now)
    assert changed == {"sops"}

    # A wrapper module's go.sum is an input of its own component only.
    with (repo / "tools" / "etcd" / "go.sum").open("a") as go_sum:
        go_sum.write("example.com/extra v1.0.0 h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n")
    changed, now = changed_since(now)
    assert changed == {"etcd"}


def test_the_bench_set_adds_helmfile_and_keeps_the_default_keys(tmp_path: Path) -> None:
    default = keys(ROOT)
    bench = keys(ROOT, "--bench")
    assert set(bench) - set(default) == {"helmfile"}
    assert {name: bench[name] for name in default} == default


def test_a_wrapper_module_behind_its_pin_is_refused_before_anything_is_built(tmp_path: Path) -> None:
    repo = copy_recipe(tmp_path)
    set_pin(repo, "KUBERNETES_VERSION", "v1.36.99")
    cache = tmp_path / "cache"

    out = run(repo, cache=cache)

    assert out.returncode == 1
    assert out.stdout == ""
    assert "tools/kube/go.mod does not require k8s.io/kubernetes v1.36.99" in out.stderr
    assert "go get k8s.io/kubernetes@v1.36.99 && go mod tidy" in out.stderr
    assert not cache.exists()


def test_gripctl_helmd_follows_the_helm_pin(tmp_path: Path) -> None:
    """The helper links Helm's packages: a new helm pin without its wrapper module updated is refused, so
    that gripctl-helmd never runs other Helm code than the helm binary."""
    repo = copy_recipe(tmp_path)
    set_pin(repo, "HELM_VERSION", "v4.3.2")
    cache = tmp_path / "cache"

    out = run(repo, cache=cache)

    assert out.returncode == 1
    assert "tools/helmd/go.mod does not require helm.sh/helm/v4 v4.3.2" in out.stderr
    assert "go get helm.sh/helm/v4@v4.3.2 && go mod tidy" in out.stderr
    assert not cache.exists()


def test_the_deploy_set_is_helm_helmd_sops_and_age_alone(tmp_path: Path) -> None:
    """`--deploy`, what the GitHub Action builds: the same components (same keys) as the default set's
    helm, helmd and sops, nothing else; assembled from them without a rebuild, in its own directory."""
    repo = copy_recipe(tmp_path)
    deploy = keys(repo, "--deploy")
    assert set(deploy) == {"helm", "helmd", "sops"}
    assert all(keys(repo)[name] == key for name, key in deploy.items())
    cache = tmp_path / "cache"
    link_built_components(repo, cache, "--deploy")
    out = run(repo, "--deploy", cache=cache)
    assert out.returncode == 0, out.stderr
    printed = Path(out.stdout.strip())
    assert sorted(p.name for p in printed.iterdir()) == ["age", "age-keygen", "gripctl-helmd", "helm", "sops"]
    assert (cache / "toolchain" / "current").resolve() == printed.parent.resolve()


def test_an_unknown_option_is_refused(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    out = run(ROOT, "--fast", cache=cache)
    assert out.returncode == 1
    assert "unknown option '--fast'" in out.stderr
    assert "usage: scripts/toolchain.sh [--bench | --deploy] [--keys]" in out.stderr
    assert not cache.exists()


def test_one_printed_directory_links_every_binary_and_current_points_at_it(
    tmp_path: Path, pins: dict[str, str]
) -> None:
    cache = tmp_path / "cache"
    link_built_components(ROOT, cache)

    first = run(ROOT, cache=cache)
    second = run(ROOT, cache=cache)

    assert first.returncode == 0, first.stderr
    assert second.stdout == first.stdout
    assert second.stderr == ""  # warm: nothing assembled, nothing built
    bin_dir = Path(first.stdout.strip())
    assert bin_dir.parent.parent == cache / "toolchain"
    assert (cache / "toolchain" / "current" / "bin").resolve() == bin_dir.resolve()
    assert {p.name for p in bin_dir.iterdir()} == DEFAULT_BINARIES
    for link in bin_dir.iterdir():
        target = link.resolve()
        assert link.is_symlink() and target.is_file() and os.access(target, os.X_OK)
        assert not os.readlink(link).startswith("/")  # relative: the cache can move
    components = (bin_dir.parent / "components").read_text().split()
    assert components[::2] == ["helm", "helmd", "sops", "kwok", "etcd", "kube", "actionlint", "prometheus"]
    version = subprocess.run(
        [bin_dir / "actionlint", "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert version.splitlines()[0] == pins["ACTIONLINT_VERSION"]


def test_legacy_binaries_are_adopted_when_their_build_info_matches(tmp_path: Path) -> None:
    repo = copy_recipe(tmp_path)
    script = repo / SCRIPT
    script.write_text(re.sub(r"^DEFAULT=\(.*\)$", "DEFAULT=(actionlint)", script.read_text(), flags=re.M))
    real = cache_root() / "toolchain" / "components" / f"actionlint-{keys(ROOT)['actionlint']}"
    if not (real / ".complete").is_file():
        pytest.fail(f"actionlint is not built ({real}): run `make setup`")
    legacy = tmp_path / "cache" / "toolchain" / "0123456789abcdef"
    (legacy / "bin").mkdir(parents=True)
    shutil.copy2(real / "bin" / "actionlint", legacy / "bin" / "actionlint")
    (legacy / ".complete").touch()

    out = run(repo, cache=tmp_path / "cache")

    assert out.returncode == 0, out.stderr
    assert f"actionlint: adopted from {legacy}" in out.stderr
    assert "building" not in out.stderr
    adopted = Path(out.stdout.strip()) / "actionlint"
    assert adopted.resolve().read_bytes() == (legacy / "bin" / "actionlint").read_bytes()
    assert adopted.resolve().parent.parent.name.startswith("actionlint-")


def legacy_binary_ok(root: Path, binary: Path, component: str, **pins: str) -> bool:
    """The script's own check, run by sourcing it: would `binary` be adopted for `component`?"""
    overrides = "".join(f" {name}={value}" for name, value in pins.items())
    code = (
        'source "$0/scripts/toolchain.sh"; set +e; root=$0; source "$root/tools/versions.env";'
        "{ read -r GOVERSION; read -r GOOS; read -r GOARCH; } < <(go env GOVERSION GOOS GOARCH);"
        f'{overrides or ":"}; load_spec $1; legacy_binary_ok $2 "${{pkgs[0]}}" $1'
    )
    out = subprocess.run(["bash", "-c", code, str(root), component, str(binary)], capture_output=True)
    assert out.returncode in (0, 1), out.stderr
    return out.returncode == 0


def test_legacy_binaries_of_another_version_module_or_dependency_set_are_not_adopted(tmp_path: Path) -> None:
    built = cache_root() / "toolchain" / "components"
    etcd = built / f"etcd-{keys(ROOT)['etcd']}" / "bin" / "etcd"
    actionlint = built / f"actionlint-{keys(ROOT)['actionlint']}" / "bin" / "actionlint"
    if not (etcd.is_file() and actionlint.is_file()):
        pytest.fail("etcd or actionlint is not built: run `make setup`")
    assert legacy_binary_ok(ROOT, actionlint, "actionlint")
    assert not legacy_binary_ok(ROOT, actionlint, "actionlint", ACTIONLINT_VERSION="v1.7.11")
    assert not legacy_binary_ok(ROOT, actionlint, "helm")
    assert legacy_binary_ok(ROOT, etcd, "etcd")
    # A wrapper module whose go.sum no longer has one of the binary's dependencies.
    repo = copy_recipe(tmp_path)
    go_sum = repo / "tools" / "etcd" / "go.sum"
    go_sum.write_text("".join(line for line in go_sum.read_text().splitlines(True) if "bbolt" not in line))
    assert not legacy_binary_ok(repo, etcd, "etcd")
