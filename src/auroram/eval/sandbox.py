"""Run untrusted generated code: one fresh, limited, isolated process per sample, killed with all it started.

Layers, each used where the machine allows it (`Sandbox.protections` says which were active):
- a new process (`python -I`, minimal environment) in a new session, with stdin closed;
- a fresh temporary directory as cwd and HOME, deleted afterwards;
- rlimits on address space, CPU seconds, file size, open files and process count;
- as root: the sample runs as a dedicated unprivileged uid per worker (no passwd entry needed), so the
  process-count limit applies and every process left with that uid can be found and killed;
- `unshare` (util-linux): new network namespace (no network, loopback down), new PID namespace (when its
  first process ends or is killed, the kernel kills everything inside it, setsid or not) and a mount
  namespace in which every mount but the work directory is read-only. Not root: the same through a user
  namespace, where the kernel allows one.
Without `unshare` the network is not isolated and a child that calls setsid can outlive the sample
unless the uid sweep (root only) finds it.
"""

from __future__ import annotations

import json
import os
import pwd
import queue
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from auroram.errors import AuroramError

_INIT = str(Path(__file__).with_name("_sandbox_init.py"))
_SETUP_FAILED_RC = 121


@dataclass(frozen=True)
class SandboxConfig:
    timeout_seconds: float = 10.0  # wall clock per sample
    memory_bytes: int = 1 << 30  # RLIMIT_AS
    cpu_seconds: int | None = None  # RLIMIT_CPU; None: the wall timeout rounded up, plus one
    file_bytes: int = 16 << 20  # RLIMIT_FSIZE: the largest file (and captured output) a sample can write
    max_processes: int = 32  # RLIMIT_NPROC, threads included
    max_open_files: int = 64  # RLIMIT_NOFILE
    output_tail_bytes: int = 4096  # how much of stdout/stderr a result keeps
    python: str | None = None  # interpreter for samples; None: this one
    isolation: str = "auto"  # auto: namespaces when they work; none: rlimits, session and uid only
    uid_base: int = 61000  # as root, worker w runs samples as uid uid_base + w


@dataclass
class ExecResult:
    passed: bool
    reason: str  # "passed", "timeout", "memory", "cpu time", "failed: <last error line>", "sandbox error: ..."
    seconds: float
    returncode: int | None
    stdout_tail: str = ""
    stderr_tail: str = ""
    protections: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


class SandboxError(AuroramError, RuntimeError):
    """The sandbox cannot run anything here (e.g. the interpreter is not executable by the sandbox user)."""


def _minimal_env(home: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8", "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1"}


def _probe(cmd: list[str]) -> bool:
    try:
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _free_uid(start: int) -> int:
    uid = start
    while True:
        try:
            pwd.getpwuid(uid)
        except KeyError:
            return uid
        uid += 1


def _proc_uid(pid: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Uid:"):
                    return int(line.split()[1])  # real uid
    except (OSError, ValueError, IndexError):
        return None
    return None


def _kill_uid(uid: int, rounds: int = 50) -> int:
    """SIGKILL every process whose real uid is `uid` until none is left; returns how many were found."""
    found = 0
    for _ in range(rounds):
        pids = [p for p in os.listdir("/proc") if p.isdigit() and _proc_uid(p) == uid]
        if not pids:
            return found
        found += len(pids)
        for p in pids:
            try:
                os.kill(int(p), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.01)
    return found


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(c) for c in text.split()]


def _tail(path: Path, n_bytes: int) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - n_bytes))
            return fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def _rmtree(path: Path) -> None:
    # a sample may have made its files read-only or its directories unlistable; without root that blocks rmtree
    def fix(func, p, _exc):
        try:
            os.chmod(os.path.dirname(p), stat.S_IRWXU)
            os.chmod(p, stat.S_IRWXU)
            func(p)
        except OSError:
            pass

    shutil.rmtree(path, onexc=fix) if sys.version_info >= (3, 12) else shutil.rmtree(path, onerror=fix)


_PREFIX = "auroram-sandbox-"


def sweep_stale(tmp: str | None = None) -> int:
    """Remove sample directories whose evaluating process is gone (it was killed before its cleanup ran);
    the owner's pid is in the name. Returns how many were removed."""
    removed = 0
    me = os.getuid()
    for p in Path(tmp or tempfile.gettempdir()).glob(f"{_PREFIX}*-*"):
        pid = p.name[len(_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or os.path.exists(f"/proc/{pid}"):
            continue
        try:
            if p.is_dir() and not p.is_symlink() and p.stat().st_uid == me:
                _rmtree(p)
                removed += 1
        except OSError:
            continue
    return removed


def _reason(rc: int | None, stderr: str, limits: dict) -> str:
    lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
    last = lines[-1] if lines else ""
    if "MemoryError" in last or (rc is not None and rc < 0 and "MemoryError" in stderr):
        return "memory"
    if rc in (-signal.SIGXCPU, 128 + signal.SIGXCPU):
        return "cpu time"
    if rc == _SETUP_FAILED_RC and last.startswith("sandbox setup failed"):
        return f"sandbox error: {last}"
    if rc is not None and rc < 0:
        return f"failed: killed by {signal.Signals(-rc).name}" if -rc in signal.valid_signals() else f"failed: signal {-rc}"
    if last:
        return f"failed: {last[:300]}"
    return f"failed: exit status {rc}"


class Sandbox:
    def __init__(self, cfg: SandboxConfig | None = None, *, workers: int = 1):
        self.cfg = cfg or SandboxConfig()
        self.workers = max(1, int(workers))
        self.root = os.geteuid() == 0
        unshare = shutil.which("unshare") or next((p for p in ("/usr/bin/unshare", "/bin/unshare") if os.path.exists(p)), None)
        self.unshare_cmd: list[str] | None = None
        if self.cfg.isolation not in ("auto", "none"):
            raise ValueError(f"sandbox isolation must be 'auto' or 'none', got {self.cfg.isolation!r}")
        if unshare and self.cfg.isolation == "auto":
            base = [unshare, "--net", "--pid", "--fork", "--mount-proc", "--kill-child"]
            if not self.root:
                base = [unshare, "--user", "--map-root-user", *base[1:]]
            if _probe([*base, "true"]):
                self.unshare_cmd = base
        self.uids: list[int] = []
        if self.root:
            uid = self.cfg.uid_base
            for _ in range(self.workers):
                uid = _free_uid(uid)
                self.uids.append(uid)
                uid += 1
        cpu = self.cfg.cpu_seconds if self.cfg.cpu_seconds is not None else int(self.cfg.timeout_seconds) + 1
        self.limits = {"RLIMIT_AS": self.cfg.memory_bytes, "RLIMIT_CPU": cpu, "RLIMIT_FSIZE": self.cfg.file_bytes,
                       "RLIMIT_NPROC": self.cfg.max_processes, "RLIMIT_NOFILE": self.cfg.max_open_files}
        self._slots: queue.Queue[int] = queue.Queue()
        for w in range(self.workers):
            self._slots.put(w)
        self.python = self._pick_python()
        sweep_stale()

    def _pick_python(self) -> str:
        # a virtualenv's interpreter often lives under a home directory the sandbox uid may not enter
        if self.cfg.python:
            candidates = [self.cfg.python]
        else:
            candidates = [sys.executable, os.path.realpath(sys.executable), getattr(sys, "_base_executable", ""),
                          shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin") or ""]
        first = None
        for cand in dict.fromkeys(c for c in candidates if c):
            res = self._run("pass", 0, None, cand)
            if res.passed:
                return cand
            first = first or f"{cand}: {res.reason}"
        raise SandboxError(f"no Python interpreter runs inside the sandbox ({first})")

    def protections(self) -> dict:
        """What every sample run by this sandbox gets; each result adds what its own setup achieved."""
        ns = self.unshare_cmd is not None
        return {
            "separate_process": True,
            "isolated_python": True,  # python -I: no user site, no PYTHON* variables, script dir not on sys.path
            "minimal_env": True,
            "fresh_tmpdir": True,
            "new_session": True,
            "timeout_seconds": self.cfg.timeout_seconds,
            "rlimits": {k.removeprefix("RLIMIT_").lower(): v for k, v in self.limits.items()},
            # root ignores RLIMIT_NPROC; a dropped uid (or a user namespace) makes it count
            "process_limit_enforced": bool(self.uids) or (ns and not self.root),
            "unprivileged_uid": f"{self.uids[0]}..{self.uids[-1]}" if self.uids else None,
            "user_namespace": ns and not self.root,
            "pid_namespace": ns,
            "net_namespace": ns,
            "network": "none (empty network namespace)" if ns else "not isolated (no unshare): best effort only",
            "kill": ("PID namespace" if ns else "process group") + (" + uid sweep" if self.uids else ""),
            "python": getattr(self, "python", None),
        }

    def run(self, program: str, *, expect_stdout: str | None = None) -> ExecResult:
        """Run `program` (Python source); passed when it exits 0 (and prints `expect_stdout`, when given)."""
        slot = self._slots.get()
        try:
            return self._run(program, slot, expect_stdout, self.python)
        finally:
            self._slots.put(slot)

    def run_many(self, programs: list[str], *, expect_stdout: list[str | None] | None = None,
                 progress=None) -> list[ExecResult]:
        expect = expect_stdout or [None] * len(programs)
        results: list[ExecResult | None] = [None] * len(programs)
        lock = threading.Lock()

        def one(i: int) -> None:
            results[i] = self.run(programs[i], expect_stdout=expect[i])
            if progress is not None:
                with lock:
                    progress(1)

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            for f in [pool.submit(one, i) for i in range(len(programs))]:
                f.result()
        return results  # type: ignore[return-value]

    def _run(self, program: str, slot: int, expect_stdout: str | None, python: str) -> ExecResult:
        outer = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-"))
        try:
            os.chmod(outer, 0o711)  # the sample's uid may pass through to its work directory, not list this one
            work = outer / "work"
            work.mkdir(mode=0o700)
            uid = self.uids[slot] if self.uids else None
            if uid is not None:
                os.chown(work, uid, uid)
            (work / "main.py").write_text(program, encoding="utf-8")
            if uid is not None:
                os.chown(work / "main.py", uid, uid)
            out_path, err_path, status_path = outer / "stdout", outer / "stderr", outer / "status"
            spec = {
                "workdir": str(work),
                "remount": self.unshare_cmd is not None,
                "limits": self.limits,
                "uid": uid,
                "gid": uid,
                "argv": [python, "-I", "main.py"],
                "env": _minimal_env(str(work)),
            }
            with open(out_path, "wb") as out, open(err_path, "wb") as err, open(status_path, "wb") as st:
                spec["status_fd"] = st.fileno()
                cmd = [*(self.unshare_cmd or []), sys.executable, "-I", "-S", _INIT, json.dumps(spec)]
                t0 = time.perf_counter()
                proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=str(work),
                                        env=_minimal_env(str(work)), start_new_session=True, close_fds=True,
                                        pass_fds=(st.fileno(),))
                timed_out = False
                try:
                    rc: int | None = proc.wait(timeout=self.cfg.timeout_seconds)
                except subprocess.TimeoutExpired:
                    timed_out = True
                    rc = None
                self._kill(proc, uid)
                if rc is None:
                    proc.wait()
                seconds = time.perf_counter() - t0
            stdout = _tail(out_path, self.cfg.output_tail_bytes)
            stderr = _tail(err_path, self.cfg.output_tail_bytes)
            prot = self.protections()
            try:
                prot.update(json.loads(status_path.read_text() or "{}"))
            except ValueError:
                pass
            if timed_out:
                reason, passed = "timeout", False
            elif rc == 0 and (expect_stdout is None or expect_stdout in stdout):
                reason, passed = "passed", True
            elif rc == 0:
                reason, passed = "failed: exited before the tests finished", False
            else:
                reason, passed = _reason(rc, stderr, self.limits), False
            return ExecResult(passed, reason, seconds, rc, stdout, stderr, prot)
        finally:
            _rmtree(outer)

    def _kill(self, proc: subprocess.Popen, uid: int | None) -> None:
        # the PID namespace's first process: killing it kills every process in the namespace
        for child in _children(proc.pid):
            try:
                os.kill(child, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if uid is not None:
            _kill_uid(uid)

