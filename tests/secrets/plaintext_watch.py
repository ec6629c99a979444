"""`plaintext_watch`: a pytest fixture proving that no secret value reached the disk.

Load it in a conftest with `from plaintext_watch import plaintext_watch` (with tests/secrets on
sys.path), run the code under test, then call `plaintext_watch.assert_no_plaintext(values)`.
"""

from __future__ import annotations

import ctypes
import os
import select
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# --- plaintext_watch: every file written while the deploy path runs -------------------------------
#
# Preferred backend: fanotify on the whole filesystems that hold /tmp, /var/tmp, /dev/shm, $TMPDIR,
# ~/.cache and the repository. Each FAN_CLOSE_WRITE event carries an open descriptor of the written
# file, so its content is read even if the writer deletes the file right away: no race. It also names
# the writer: a write counts unless its process is known not to be ours — alive, and without the
# test's private TMPDIR in its environment (which every process the test starts inherits): other
# test sessions on a shared machine write copies of the example's table of test values, and logs.
# Fallback (fanotify needs CAP_SYS_ADMIN): inotify watches on those folders, which can miss a file
# that is written and deleted faster than we can open it, and cannot tell who wrote it.
#
# In CI (`CI` set, as every CI service does, or GRIPCTL_TEST_WATCH=fanotify) there is no fallback: a
# watch that cannot start fanotify fails the test, so that a CI machine without CAP_SYS_ADMIN cannot
# quietly weaken the proof. GRIPCTL_TEST_WATCH=inotify exercises the fallback on purpose.

_FAN_CLOEXEC, _FAN_NONBLOCK = 0x1, 0x2
_FAN_MARK_ADD, _FAN_MARK_FILESYSTEM = 0x1, 0x100
_FAN_CLOSE_WRITE, _FAN_Q_OVERFLOW = 0x8, 0x4000
_FAN_EVENT = struct.Struct("=IBBHQii")
_AT_FDCWD = -100

_IN_MODIFY = 0x002
_IN_CLOSE_WRITE = 0x008
_IN_MOVED_TO = 0x080
_IN_CREATE = 0x100
_IN_ISDIR = 0x40000000
_IN_Q_OVERFLOW = 0x4000
_IN_MASK = _IN_MODIFY | _IN_CLOSE_WRITE | _IN_MOVED_TO | _IN_CREATE
_IN_EVENT = struct.Struct("iIII")
_SNAPSHOT_LIMIT = 16 << 20


@dataclass
class PlaintextWatch:
    """Records every file created or written under `roots` while active, with its content as it was
    when written (so a file written and deleted again is still caught).

    `private_tmp` is the TMPDIR handed to child processes: any file appearing there is a failure by
    itself, since the deploy path must create no temp files at all.
    """

    roots: list[Path]
    private_tmp: Path
    canary: Path | None = None  # written right after start; must show up, or the watch is blind
    backend: str = ""  # "fanotify" or "inotify"
    written: set[Path] = field(default_factory=set)
    foreign: set[Path] = field(default_factory=set)  # written only by processes known not to be ours
    snapshots: dict[Path, list[bytes]] = field(default_factory=dict)
    overflowed: bool = False
    _fd: int = -1
    _wds: dict[int, Path] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        forced = os.environ.get("GRIPCTL_TEST_WATCH")  # "inotify" exercises the fallback here
        if forced == "inotify" or not self._start_fanotify():
            if fanotify_required():
                raise AssertionError(
                    f"the no-plaintext watch must run on fanotify here ({_required_why()}), and "
                    f"fanotify_init/mark failed (errno {ctypes.get_errno()}): give the test process "
                    "CAP_SYS_ADMIN (e.g. a privileged container) rather than accept the inotify fallback"
                )
            self._start_inotify()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    # fanotify ---------------------------------------------------------------------------------------

    def _start_fanotify(self) -> bool:
        fd = self._libc.fanotify_init(_FAN_CLOEXEC | _FAN_NONBLOCK, os.O_RDONLY | os.O_LARGEFILE)
        if fd < 0:
            return False
        mark = self._libc.fanotify_mark
        mark.argtypes = [ctypes.c_int, ctypes.c_uint, ctypes.c_uint64, ctypes.c_int, ctypes.c_char_p]
        devices: set[int] = set()
        for root in self.roots:
            dev = root.stat().st_dev
            if dev in devices:
                continue
            if (
                mark(fd, _FAN_MARK_ADD | _FAN_MARK_FILESYSTEM, _FAN_CLOSE_WRITE, _AT_FDCWD, os.fsencode(root))
                < 0
            ):
                os.close(fd)
                return False
            devices.add(dev)
        self._fd, self.backend = fd, "fanotify"
        return True

    def _drain_fanotify(self, buf: bytes) -> None:
        offset = 0
        while offset + _FAN_EVENT.size <= len(buf):
            length, _vers, _res, _mlen, mask, fd, pid = _FAN_EVENT.unpack_from(buf, offset)
            offset += length
            if mask & _FAN_Q_OVERFLOW:
                self.overflowed = True
            if fd < 0:
                continue
            try:
                path = Path(os.readlink(f"/proc/self/fd/{fd}").removesuffix(" (deleted)"))
                if any(path.is_relative_to(root) for root in self.roots):
                    if self._not_ours(pid):
                        if path not in self.written:
                            self.foreign.add(path)
                    else:
                        self.written.add(path)
                        self.foreign.discard(path)
                        self.snapshots.setdefault(path, []).append(os.pread(fd, _SNAPSHOT_LIMIT, 0))
            except OSError:
                pass
            finally:
                os.close(fd)

    def _not_ours(self, pid: int) -> bool:
        """True only when we can tell: the writer is alive and did not inherit the test's TMPDIR."""
        if pid == os.getpid():
            return False
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            return False  # gone already (or hidden): count the write
        marks = {f"TMPDIR={self.private_tmp}".encode(), f"TMPDIR={os.environ.get('TMPDIR', '')}".encode()}
        return not marks & set(environ.split(b"\0"))

    # inotify ----------------------------------------------------------------------------------------

    def _start_inotify(self) -> None:
        self._fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        assert self._fd >= 0, f"inotify_init1 failed: errno {ctypes.get_errno()}"
        self.backend = "inotify"
        for root in self.roots:
            self._watch_tree(root)

    def _watch_tree(self, root: Path) -> None:
        if not root.is_dir():
            return
        for dirpath, dirnames, _ in os.walk(root, onerror=lambda _e: None):
            dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
            wd = self._libc.inotify_add_watch(self._fd, os.fsencode(dirpath), _IN_MASK)
            if wd >= 0:
                self._wds[wd] = Path(dirpath)

    def _snapshot(self, path: Path) -> None:
        try:
            with path.open("rb") as f:
                self.snapshots.setdefault(path, []).append(f.read(_SNAPSHOT_LIMIT))
        except OSError:
            pass  # gone already, or not a regular file: `written` still lists it

    def _drain_inotify(self, buf: bytes) -> None:
        offset = 0
        while offset < len(buf):
            wd, mask, _cookie, length = _IN_EVENT.unpack_from(buf, offset)
            raw = buf[offset + _IN_EVENT.size : offset + _IN_EVENT.size + length].rstrip(b"\0")
            offset += _IN_EVENT.size + length
            if mask & _IN_Q_OVERFLOW:
                self.overflowed = True
                continue
            base = self._wds.get(wd)
            if base is None or not raw:
                continue
            path = base / os.fsdecode(raw)
            if mask & _IN_ISDIR:
                if mask & (_IN_CREATE | _IN_MOVED_TO):
                    self._watch_tree(path)
                    for child in path.rglob("*"):  # files made before the watch was in place
                        if child.is_file():
                            self.written.add(child)
                            self._snapshot(child)
                continue
            self.written.add(path)
            if mask & (_IN_CLOSE_WRITE | _IN_MOVED_TO):
                self._snapshot(path)

    # both -------------------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            stopping = self._stop.is_set()
            ready, _, _ = select.select([self._fd], [], [], 0.02)
            if ready:
                try:
                    buf = os.read(self._fd, 1 << 20)
                except BlockingIOError:
                    continue
                if self.backend == "fanotify":
                    self._drain_fanotify(buf)
                else:
                    self._drain_inotify(buf)
            elif stopping:
                return  # the queue was read empty after stop was requested

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=30)
            self._thread = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def assert_no_plaintext(self, values: list[str] | set[str]) -> None:
        """Stop watching; fail if any file created or written meanwhile holds one of `values`, or if
        any file appeared in the children's private TMPDIR."""
        self.stop()
        if self.canary is not None:
            assert self.canary.resolve() in self.written, f"the {self.backend} watch saw nothing: it is blind"
        assert not self.overflowed, "the event queue overflowed: events were lost, the proof is incomplete"
        needles = [v.encode() for v in values if v]
        assert needles, "give the secret values to look for"
        leaks: list[str] = []
        for path in sorted(self.written):
            contents = list(self.snapshots.get(path, []))
            try:
                if path.is_file():
                    contents.append(path.read_bytes()[:_SNAPSHOT_LIMIT])
            except OSError:
                pass
            if any(n in c for n in needles for c in contents):
                leaks.append(str(path))
        in_private_tmp = sorted(str(p) for p in self.written if p.is_relative_to(self.private_tmp))
        assert not leaks, f"secret values were written to: {leaks}"
        assert not in_private_tmp, f"temp files were created during the deploy path: {in_private_tmp}"


def fanotify_required() -> bool:
    """In CI the proof must run on fanotify (see the comment at the top)."""
    forced = os.environ.get("GRIPCTL_TEST_WATCH")
    if forced == "inotify":
        return False
    return forced == "fanotify" or os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def _required_why() -> str:
    return "GRIPCTL_TEST_WATCH=fanotify" if os.environ.get("GRIPCTL_TEST_WATCH") else "CI is set"


def _watch_roots(extra: list[Path]) -> list[Path]:
    roots = [Path("/tmp"), Path("/var/tmp"), Path("/dev/shm"), *extra]
    if tmpdir := os.environ.get("TMPDIR"):
        roots.append(Path(tmpdir))
    seen: list[Path] = []
    for root in roots:
        resolved = root.resolve()
        if resolved.is_dir() and not any(resolved.is_relative_to(s) for s in seen):
            seen = [s for s in seen if not s.is_relative_to(resolved)] + [resolved]
    return seen


@pytest.fixture
def plaintext_watch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PlaintextWatch]:
    """Watch /tmp, /var/tmp, /dev/shm, $TMPDIR, ~/.cache (the real one and the test's), the repository
    and the test's platform for files holding secret values; child processes get a private TMPDIR that
    must stay empty.

    Use: run the code under test, then `plaintext_watch.assert_no_plaintext(values)`.
    """
    repo = Path(__file__).resolve().parents[2]
    real_home = Path(os.path.expanduser("~" + os.environ.get("USER", "root"))).resolve()
    private_tmp = tmp_path / "child-tmp"
    private_tmp.mkdir()
    roots = _watch_roots([repo, tmp_path, private_tmp, real_home / ".cache", Path(os.environ["HOME"])])
    watch = PlaintextWatch(roots=roots, private_tmp=private_tmp.resolve())
    monkeypatch.setenv("TMPDIR", str(private_tmp))
    watch.start()
    watch.canary = tmp_path / "watch-canary"
    watch.canary.write_text("the watch is live\n")
    try:
        yield watch
    finally:
        watch.stop()
