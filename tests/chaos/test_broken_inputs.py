"""A corpus of broken inputs (broken_corpus.py: generated, over 60 cases) through validate, plan and
deploy: each gives its documented exit code and a message naming the file (and the line, where there
is one), never a traceback; nothing is recorded in the ledger, and the API server's watch of
everything a deploy would write sees zero mutations.

The commands run in this process through the CLI's entry point (`gripctl.cli.app.main`, exactly what
the `gripctl` script calls), so that a few hundred invocations do not each pay Python's start-up; an
exception escaping `main` — what a user would see as a traceback — fails the case.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from broken_corpus import EXIT, cases
from chaos_helpers import MutationWatch
from engine_platforms import SynthPlatform
from secrets_helpers import encrypt_file, make_identity, write_sops_config

from gripctl.adapters.helm import KubeTarget
from gripctl.adapters.kube import Kube
from gripctl.adapters.toolchain import find_tool
from gripctl.cli.app import main
from gripctl.ledger import open_ledger

SECRET_CHART = """\
apiVersion: v1
kind: Secret
metadata:
  name: a-secret
stringData:
  password: {{ .Values.password | quote }}
"""


def _base(sp: SynthPlatform, keys: Path) -> tuple[Path, Path]:
    """The good platform every case breaks: two releases (020-b needs 010-a), 010-a's SOPS secrets
    release, an environment values file, a per-release env file; the checks a tiny test chart cannot
    pass (resources, security context, probes, network policy) off. Returns (age key, other key)."""
    root = sp.root
    me, other = make_identity(keys / "me.agekey"), make_identity(keys / "other.agekey")
    write_sops_config(root, [me.public])
    chart = root / "ops" / "secrets" / "010-a-secrets"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: a-secrets\nversion: 0.1.0\n")
    (chart / "templates" / "secret.yaml").write_text(SECRET_CHART)
    encrypt_file(root, "010-a-secrets", {"password": "corpus-not-a-secret"})
    (root / "envs" / sp.environment).mkdir(parents=True)
    (root / "envs" / "common.yaml").write_text("replicas: 1\n")
    (root / "envs" / sp.environment / "020-b.yaml").write_text("version: v1\n")
    data = yaml.safe_load((root / "gripctl.yaml").read_text())
    data["secrets"] = "ops/secrets"
    for env in data["environments"].values():
        env["values"] = ["envs/common.yaml"]
    data["policies"] = {
        "checks": {c: "off" for c in ("resources", "security-context", "probes", "network-policy")}
    }
    (root / "gripctl.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return me.key_file, other.key_file


def _gripctl(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """The CLI's entry point in this process; (exit code, stdout + stderr)."""
    sys.argv = ["gripctl", *args]
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException as exc:  # what a user would see as a traceback
        out = capsys.readouterr()
        raise AssertionError(f"gripctl {' '.join(args)} raised {exc!r}\n{out.out}{out.err}") from exc
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.fixture
def corpus_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No developer key reaches sops: HOME and XDG_CONFIG_HOME in tmp_path, SOPS_* cleared."""
    for tool in ("sops", "age", "helm"):
        if "GRIPCTL_TOOLCHAIN_BIN" not in os.environ:
            monkeypatch.setenv("GRIPCTL_TOOLCHAIN_BIN", str(Path(find_tool(tool)).parent))
    for name in ("SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY_CMD", "GRIPCTL_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("COLUMNS", "400")  # one finding per line: no wrapping inside a path
    return home


def test_every_broken_input_is_refused_with_its_exit_code_and_location(
    synth: Callable[..., SynthPlatform],
    kube_target: KubeTarget,
    tmp_path: Path,
    corpus_env: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sp = synth({"010-a": [], "020-b": ["010-a"]})
    key, other_key = _base(sp, tmp_path / "keys")
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(key))
    env = sp.environment
    # The base is good: it validates clean and plans changes (it is never deployed).
    code, text = _gripctl(capsys, "-C", str(sp.root), "validate", "-e", env)
    assert code == 0, text
    code, text = _gripctl(capsys, "-C", str(sp.root), "plan", "-e", env)
    assert code == 2, text

    corpus = cases(env)
    assert len(corpus) >= 50
    watch = MutationWatch(kube_target, sp.namespace, env)
    watch.start()
    problems: list[str] = []
    for case in corpus:
        root = tmp_path / "corpus" / case.name
        shutil.copytree(sp.root, root, ignore=shutil.ignore_patterns(".gripctl"))
        case.breaks(root)
        line = case.line(root)
        for name, value in case.env.items():
            monkeypatch.setenv(name, str(other_key) if value == "@other" else value)
        for command in ("validate", "plan", "deploy"):
            code, text = _gripctl(capsys, "-C", str(root), command, "-e", case.environment or env)
            want = EXIT[case.kind][command]
            named = re.search(re.escape(case.where) + (f":{line}\\b" if line else ""), text)
            named = named is not None and all(word in text for word in case.also)
            if command == "plan" and want in (0, 2):
                named = True  # the plan's answer: no error message to name anything
            if code != want or not named or "Traceback" in text:
                problems.append(
                    f"{case.name} [{command}]: exit {code} (want {want}); "
                    f"names {case.where}{f':{line}' if line else ''}: {named}\n    "
                    + "\n    ".join(text.strip().splitlines()[-6:])
                )
        ledger = root / ".gripctl" / "ledger.sqlite"
        if ledger.exists():
            runs = open_ledger(f"sqlite:///{ledger}").runs()
            if runs:
                problems.append(f"{case.name}: recorded {[(r.kind.value, r.outcome.value) for r in runs]}")
        monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(key))
    # The watch is not blind: a helm-labelled Secret written now is the one mutation it reports.
    canary = f"ADDED Secret {sp.namespace}/chaos-canary"
    Kube(kube_target).create(
        "Secret",
        sp.namespace,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "chaos-canary", "labels": {"owner": "helm"}},
        },
    )
    for _ in range(100):
        if canary in watch.seen:
            break
        time.sleep(0.1)
    mutations = watch.mutations()
    print(f"{len(corpus)} cases, {len(problems)} problem(s)")
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems)
    assert mutations == [canary], mutations
