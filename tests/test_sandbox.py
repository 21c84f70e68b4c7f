"""The sandbox contains hostile samples: each fails with its reason, the host and the evaluator are untouched."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import auroram
from auroram.eval.sandbox import Sandbox, SandboxConfig

TIMEOUT_S = 2.0


@pytest.fixture(scope="module")
def sb() -> Sandbox:
    return Sandbox(SandboxConfig(timeout_seconds=TIMEOUT_S, memory_bytes=256 << 20, max_processes=16), workers=2)


def _stray() -> list[int]:
    # every sample process (and its children) carries its sandbox directory in HOME
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                if b"auroram-sandbox-" in fh.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def _no_stray(deadline_s: float = 2.0) -> bool:
    end = time.monotonic() + deadline_s
    while _stray():
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


def test_correct_passes_and_wrong_fails_with_reason(sb):
    ok = sb.run("def f(x):\n    return x * 2\nassert f(3) == 6\n")
    assert ok.passed and ok.reason == "passed"
    bad = sb.run("def f(x):\n    return x + 2\nassert f(3) == 6, 'f(3) should be 6'\n")
    assert not bad.passed
    assert bad.reason == "failed: AssertionError: f(3) should be 6"


def test_infinite_loop_times_out_within_bound(sb):
    t0 = time.monotonic()
    r = sb.run("while True:\n    pass\n")
    assert r.reason == "timeout" and not r.passed
    assert time.monotonic() - t0 < TIMEOUT_S + 2.0
    assert _no_stray()


def test_memory_bomb_fails_with_memory(sb):
    r = sb.run("blocks = []\nwhile True:\n    blocks.append(bytearray(10**7))\n")
    assert not r.passed and r.reason == "memory"


def test_fork_bomb_is_contained(sb):
    t0 = time.monotonic()
    r = sb.run("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n")
    assert not r.passed
    assert time.monotonic() - t0 < TIMEOUT_S + 3.0
    assert _no_stray(), "fork bomb processes outlived the sample"
    assert subprocess.run(["true"]).returncode == 0  # the host can still start processes


def test_setsid_child_is_killed(sb):
    r = sb.run("import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(60)\nelse:\n    print('parent done')\n")
    assert r.passed  # the parent exits 0; its escaped child must not survive it
    assert _no_stray(), "a child that called setsid outlived the sample"


def test_killing_the_parent_does_not_reach_the_evaluator(sb):
    prot = sb.protections()
    contained = prot["pid_namespace"] or prot["unprivileged_uid"]
    program = (
        "import ctypes, os, signal\n"
        "libc = ctypes.CDLL(None)\n"
        "libc.kill(libc.getppid(), 9)\n"
        "for target in (os.getppid(), 0):\n"
        "    try:\n        os.kill(target, signal.SIGKILL)\n    except OSError:\n        pass\n"
        # kill(-1) reaches every process the sample may signal: only safe to try where the sandbox confines it
        + ("try:\n    os.kill(-1, signal.SIGKILL)\nexcept OSError:\n    pass\n" if contained else "")
        + "raise SystemExit(3)\n"
    )
    r = sb.run(program)
    assert not r.passed
    assert os.getppid() > 0 and sb.run("pass").passed  # this process and the sandbox still work
    assert _no_stray()


def test_home_deletion_and_writes_outside_do_not_touch_the_host(sb, tmp_path):
    if not sb.protections()["unprivileged_uid"] and not sb.run("import os; os.statvfs('/')").protections.get("readonly_filesystem"):
        pytest.skip("neither a dropped uid nor a read-only mount namespace is available: the host is not protected")
    outside = tmp_path / "outside"
    outside.mkdir()
    canary = outside / "canary.txt"
    canary.write_text("intact")
    ro = sb.run("pass").protections.get("readonly_filesystem")
    if ro:
        os.chmod(tmp_path, 0o777)
        os.chmod(outside, 0o777)  # only the read-only mount stands between the sample and this directory
        os.chmod(canary, 0o666)
    program = (
        "import os, shutil\n"
        "shutil.rmtree(os.path.expanduser('~'), ignore_errors=True)\n"
        f"for act in (lambda: os.remove({str(canary)!r}), lambda: open({str(outside / 'evil.txt')!r}, 'w').write('x'),\n"
        f"            lambda: open({str(canary)!r}, 'w').write('overwritten')):\n"
        "    try:\n        act()\n    except OSError:\n        pass\n"
        "open('/tmp/auroram-sandbox-escape.txt', 'w').write('x')\n"
    )
    r = sb.run(program)
    assert not r.passed
    assert canary.read_text() == "intact"
    assert not (outside / "evil.txt").exists()
    if ro:
        assert not os.path.exists("/tmp/auroram-sandbox-escape.txt")


def test_socket_to_loopback_fails_with_network_namespace(sb):
    if not sb.protections()["net_namespace"]:
        pytest.skip("unshare --net is not available here: the network is not isolated")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    try:
        r = sb.run(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1).sendall(b'hi')\n")
        assert not r.passed and "OSError" in r.reason
        with pytest.raises(socket.timeout):
            server.accept()
    finally:
        server.close()


def test_many_samples_end_within_timeout_times_samples_over_workers():
    sb = Sandbox(SandboxConfig(timeout_seconds=1.0), workers=2)
    t0 = time.monotonic()
    results = sb.run_many(["while True: pass"] * 4)
    assert [r.reason for r in results] == ["timeout"] * 4
    assert time.monotonic() - t0 < 1.0 * 4 / 2 + 3.0
    assert _no_stray()


def test_without_namespaces_limits_still_apply_and_protections_say_so():
    sb = Sandbox(SandboxConfig(timeout_seconds=1.0, memory_bytes=256 << 20, isolation="none"))
    prot = sb.protections()
    assert prot["net_namespace"] is False and "best effort" in prot["network"]
    assert sb.run("print('ok')").passed
    assert sb.run("while True: pass").reason == "timeout"
    assert sb.run("x = bytearray(10**9)").reason == "memory"
    assert _no_stray()


def test_sweep_removes_sample_dirs_of_dead_evaluators_only(tmp_path):
    # a run killed with SIGKILL during code eval never reaches its cleanup; the next sandbox removes the leftovers
    from auroram.eval.sandbox import sweep_stale

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone = tmp_path / f"auroram-sandbox-{dead.pid}-abc"
    (gone / "work").mkdir(parents=True)
    (gone / "work" / "main.py").write_text("print(1)")
    alive = tmp_path / f"auroram-sandbox-{os.getpid()}-def"
    alive.mkdir()
    other = tmp_path / "auroram-sandbox-notapid"
    other.mkdir()
    assert sweep_stale(str(tmp_path)) == 1
    assert not gone.exists() and alive.exists() and other.exists()


# ----------------------------------------------------------------------------------------------------
# Edges: each hostile sample below got through before.


def _world_dir() -> Path:
    # a directory any uid may enter, as most of a host's file system is
    d = Path(tempfile.mkdtemp())
    d.chmod(0o755)
    return d


def test_cleanup_never_changes_a_file_outside_through_a_link():
    # a non-root evaluator cannot unlink from a directory the sample made read-only; fixing that must not
    # chmod the target of a link the sample planted
    from auroram.eval.sandbox import _free_uid, _rmtree

    base = _world_dir()
    try:
        outside = base / "outside.txt"
        outside.write_text("not the sample's")
        outside.chmod(0o600)
        tree = base / "auroram-sandbox-0-x"
        (tree / "d" / "locked").mkdir(parents=True)
        (tree / "d" / "locked" / "f").write_text("y")
        (tree / "d" / "link").symlink_to(outside)
        uid = _free_uid(64000) if os.geteuid() == 0 else None
        if uid is not None:
            for p in (base, outside, tree, tree / "d", tree / "d" / "locked", tree / "d" / "locked" / "f"):
                os.chown(p, uid, uid)
            os.lchown(tree / "d" / "link", uid, uid)
        (tree / "d" / "locked").chmod(0)
        (tree / "d").chmod(0o500)
        if uid is None:
            _rmtree(tree)
        else:
            pid = os.fork()
            if pid == 0:  # the evaluator as an ordinary user: root would never need the fix-up
                try:
                    os.setgroups([])
                    os.setgid(uid)
                    os.setuid(uid)
                    _rmtree(tree)
                finally:
                    os._exit(0)
            os.waitpid(pid, 0)
        assert stat.S_IMODE(outside.stat().st_mode) == 0o600
        assert not tree.exists()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_unix_sockets_on_the_host_are_out_of_reach(sb):
    d = _world_dir()
    d.chmod(0o777)
    path = str(d / "s")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    os.chmod(path, 0o777)
    server.listen(1)
    server.settimeout(0.3)
    program = f"import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect({path!r})\ns.sendall(b'hi')\n"
    try:
        for box in (sb, Sandbox(SandboxConfig(timeout_seconds=TIMEOUT_S, isolation="none"))):
            r = box.run(program)
            assert not r.passed, r.protections
            assert r.protections["unix_sockets"].startswith("refused")
            with pytest.raises(socket.timeout):
                server.accept()
    finally:
        server.close()
        shutil.rmtree(d, ignore_errors=True)


_DISK_HOG = ("import time\nchunk = b'x' * (4 << 20)\nfor i in range({n}):\n    with open(f'f{{i}}', 'wb') as fh:\n"
             "        fh.write(chunk)\n    time.sleep({pause})\nprint('wrote', {n} * 4, 'MiB')\n")


def test_disk_is_limited_in_total_not_only_per_file(sb):
    r = sb.run(_DISK_HOG.format(n=40, pause=0))  # 160 MiB in files below the per-file limit
    assert not r.passed and r.reason == "disk quota", r.reason
    without = Sandbox(SandboxConfig(timeout_seconds=5.0, disk_bytes=16 << 20, isolation="none"))
    r = without.run(_DISK_HOG.format(n=40, pause=0.02))
    assert not r.passed and r.reason == "disk quota", r.reason


def test_host_files_stay_out_of_the_sample_and_its_reason(sb):
    if not sb.protections()["pid_namespace"]:
        pytest.skip("no mount namespace here: host files are readable where their permissions allow")
    d = _world_dir()
    canary = f"canary-{secrets.token_hex(8)}"
    (d / "notes.txt").write_text(canary)
    (d / "notes.txt").chmod(0o644)
    source = Path(auroram.__file__)  # this package's own source, readable by every user
    program = ("found = []\n"
               f"for p in ({str(d / 'notes.txt')!r}, {str(source)!r}):\n"
               "    try:\n        found.append(open(p).read())\n    except OSError:\n        pass\n"
               "print(*found)\nraise SystemExit('leak: ' + ' '.join(found).replace(chr(10), ' '))\n")
    try:
        r = sb.run(program)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    seen = r.stdout_tail + r.stderr_tail + r.reason
    assert canary not in seen
    assert "continual pretraining" not in seen
    long = sb.run("raise ValueError('x' * 100000)")
    assert long.reason.startswith("failed: ") and len(long.reason) <= 220  # bounded, whatever the sample prints


def test_samples_cannot_make_user_namespaces(sb):
    program = ("import ctypes, subprocess\n"
               "assert ctypes.CDLL(None, use_errno=True).unshare(0x10000000) == 0, 'unshare(CLONE_NEWUSER)'\n"
               "assert subprocess.run(['unshare', '--user', 'true']).returncode == 0, 'unshare --user'\n")
    r = sb.run(program)
    assert not r.passed and "unshare" in r.reason, r.reason
    assert r.protections["seccomp"] is True and r.protections["user_namespaces"] == "refused (seccomp)"


def test_seccomp_leaves_ordinary_processes_and_threads_alone(sb):
    program = ("import subprocess, threading\n"
               "assert subprocess.run(['true']).returncode == 0\n"
               "t = threading.Thread(target=print, args=('thread',))\nt.start()\nt.join()\n"
               "import socket\na, b = socket.socketpair()\na.sendall(b'x')\nassert b.recv(1) == b'x'\n")
    r = sb.run(program)
    assert r.passed, r.reason


def test_a_transient_unshare_failure_is_retried_once(tmp_path, monkeypatch):
    real = shutil.which("unshare")
    if real is None or not Sandbox(SandboxConfig(timeout_seconds=TIMEOUT_S)).protections()["pid_namespace"]:
        pytest.skip("unshare does not work here")
    fake = tmp_path / "bin" / "unshare"
    fake.parent.mkdir()
    calls = tmp_path / "calls"
    # every other call fails the way a loaded machine has been seen to
    fake.write_text("#!/bin/sh\n"
                    f"n=$(cat {calls} 2>/dev/null || echo 0); n=$((n + 1)); echo $n > {calls}\n"
                    "if [ $((n % 2)) -eq 1 ]; then\n"
                    "  echo 'unshare: sigprocmask unblock failed: Invalid argument' >&2; exit 1\nfi\n"
                    f'exec {real} "$@"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    box = Sandbox(SandboxConfig(timeout_seconds=TIMEOUT_S))
    assert box.protections()["pid_namespace"], box.protections()["namespaces_unavailable"]
    assert box.run("print('ok')").passed
    fake.write_text("#!/bin/sh\necho 'unshare: sigprocmask unblock failed: Invalid argument' >&2\nexit 1\n")
    broken = Sandbox(SandboxConfig(timeout_seconds=TIMEOUT_S))
    assert broken.protections()["pid_namespace"] is False  # a lasting failure is not hidden
    assert "sigprocmask" in broken.protections()["namespaces_unavailable"]


def test_two_evaluators_never_share_a_sample_uid():
    # each kills every process of its uids after each sample: sharing one would kill the other's samples
    if os.geteuid() != 0:
        pytest.skip("only root runs samples under dedicated uids")
    a = Sandbox(SandboxConfig(timeout_seconds=TIMEOUT_S), workers=2)
    b = Sandbox(SandboxConfig(timeout_seconds=TIMEOUT_S), workers=2)
    assert set(a.uids).isdisjoint(b.uids)
    a.close()
    b.close()


_NON_ROOT_SCRIPT = """
import json, sys
sys.path.insert(0, {src!r})
from auroram.eval.sandbox import Sandbox, SandboxConfig
sb = Sandbox(SandboxConfig(timeout_seconds=5.0))
out = {{"protections": sb.protections()}}
test = "def check(c):\\n    assert c(1) == 2\\n"
out["right"] = sb.run("def f(x):\\n    return 2 * x\\n", tests=test, entry_point="f").passed
cheat = "class A:\\n    def __eq__(s, o):\\n        return True\\n\\ndef f(x):\\n    return A()\\n"
out["always_equal"] = sb.run(cheat, tests=test, entry_point="f").passed
r = sb.run("import ctypes\\nassert ctypes.CDLL(None).unshare(0x10000000) == 0\\n")
out["userns"] = [r.passed, r.protections]
remount = "import subprocess\\nassert subprocess.run(['mount', '-o', 'remount,rw', '/']).returncode == 0\\n"
out["remount"] = sb.run(remount).passed
print(json.dumps(out))
"""


def test_a_non_root_evaluator_gets_the_same_edges():
    # without root the sample is root of a user namespace: it must lose every capability there
    setpriv = shutil.which("setpriv")
    python = shutil.which("python3", path="/usr/bin:/bin")
    src = str(Path(auroram.__file__).parent.parent)
    if os.geteuid() != 0 or not setpriv or not python:
        pytest.skip("needs root (to become an ordinary user), setpriv and a system python3")
    cmd = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", python, "-I", "-c"]
    if subprocess.run([*cmd, f"import sys; sys.path.insert(0, {src!r}); import auroram.eval.sandbox"],
                      cwd="/", capture_output=True).returncode != 0:
        pytest.skip("this checkout is not readable by an ordinary user")
    res = subprocess.run([*cmd, _NON_ROOT_SCRIPT.format(src=src)], cwd="/", capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin"}, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    if not out["protections"]["user_namespace"]:
        pytest.skip("the kernel gives ordinary users no user namespace here")
    assert out["right"] and not out["always_equal"]
    passed, prot = out["userns"]
    assert not passed and prot["capabilities_dropped"] is True and prot["minimal_root"] is True
    assert not out["remount"]
