"""The sandbox contains hostile samples: each fails with its reason, the host and the evaluator are untouched."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

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
