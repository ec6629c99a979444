"""The no-plaintext watch runs on fanotify in CI, with no silent fallback to inotify."""

from __future__ import annotations

from pathlib import Path

import pytest
from plaintext_watch import PlaintextWatch, fanotify_required


def _watch(tmp_path: Path) -> PlaintextWatch:
    private = tmp_path / "child-tmp"
    private.mkdir()
    return PlaintextWatch(roots=[tmp_path.resolve()], private_tmp=private.resolve())


@pytest.mark.parametrize(
    ("env", "required"),
    [
        ({"CI": "true"}, True),
        ({"CI": "1", "GRIPCTL_TEST_WATCH": "inotify"}, False),  # the fallback, exercised on purpose
        ({"GRIPCTL_TEST_WATCH": "fanotify"}, True),
        ({"CI": "false"}, False),
        ({}, False),
    ],
)
def test_when_fanotify_is_required(
    env: dict[str, str], required: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("CI", "GRIPCTL_TEST_WATCH"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert fanotify_required() is required


def test_in_ci_a_watch_without_fanotify_fails_instead_of_falling_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    monkeypatch.delenv("GRIPCTL_TEST_WATCH", raising=False)
    # As on a CI machine without CAP_SYS_ADMIN: fanotify_init is refused.
    monkeypatch.setattr(PlaintextWatch, "_start_fanotify", lambda self: False)
    watch = _watch(tmp_path)
    with pytest.raises(AssertionError, match="must run on fanotify here \\(CI is set\\)"):
        watch.start()
    assert watch.backend == ""


def test_in_ci_the_watch_runs_on_fanotify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    monkeypatch.delenv("GRIPCTL_TEST_WATCH", raising=False)
    watch = _watch(tmp_path)
    try:
        watch.start()  # on a machine without CAP_SYS_ADMIN this raises: that is the point
        assert watch.backend == "fanotify"
    finally:
        watch.stop()


def test_writes_by_other_sessions_do_not_count_and_ours_do(
    tmp_path: Path, plaintext_watch: PlaintextWatch
) -> None:
    """On a shared machine another session writes a copy of the test values to /tmp: not ours. A
    process this test starts (it inherits the private TMPDIR) writing the same is a leak."""
    import os
    import subprocess
    import sys

    if plaintext_watch.backend != "fanotify":
        pytest.skip("only fanotify names the writer")
    secret = f"leak-{os.getpid()}-{tmp_path.name}"
    foreign, ours = Path("/tmp") / f"other-session-{secret}", Path("/tmp") / f"our-child-{secret}"
    writer = "import pathlib, sys, time; pathlib.Path(sys.argv[1]).write_text(sys.argv[2]); time.sleep(1)"
    env = {k: v for k, v in os.environ.items() if k != "TMPDIR"}  # another session's process
    try:
        subprocess.run([sys.executable, "-c", writer, str(foreign), secret], env=env, check=True)
        with pytest.raises(AssertionError, match="secret values were written to") as err:
            subprocess.run([sys.executable, "-c", writer, str(ours), secret], check=True)
            plaintext_watch.assert_no_plaintext([secret])
        assert str(ours) in str(err.value) and str(foreign) not in str(err.value)
        assert foreign in plaintext_watch.foreign
    finally:
        foreign.unlink(missing_ok=True)
        ours.unlink(missing_ok=True)
