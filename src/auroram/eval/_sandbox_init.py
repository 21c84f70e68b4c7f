"""First process of a sandboxed sample: lock the filesystem, set limits, drop privileges, exec the sample.

Run as `python -I -S _sandbox_init.py JSON` (standard library only, no site), either directly or as the
first process of fresh namespaces made by `unshare`. It writes one JSON line of what it achieved to an inherited
status fd
(closed before the sample starts) and then replaces itself with the sample's interpreter.
"""

import ctypes
import json
import os
import resource
import sys

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC = 32, 4096, 16384
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21
# statvfs flag bit -> mount flag; a remount in a user namespace must keep these or the kernel refuses it
_KEEP = {1: MS_RDONLY, 2: MS_NOSUID, 4: MS_NODEV, 8: MS_NOEXEC, 1024: MS_NOATIME, 2048: MS_NODIRATIME, 4096: MS_RELATIME}
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash as octal escapes
    for code, ch in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, ch)
    return field


def _mount_points() -> list:
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        return [_unescape(line.split()[4]) for line in fh]


def _read_only_except(libc, workdir: str) -> dict:
    """Bind the work directory onto itself, then make every other mount read-only in this mount namespace only."""
    def mount(src, target, flags):
        if libc.mount(src, target.encode(), None, flags, None) != 0:
            return ctypes.get_errno()
        return 0

    err = mount(workdir.encode(), workdir, MS_BIND | MS_REC)
    if err:
        return {"readonly_filesystem": False, "mount_error": os.strerror(err)}
    failed = []
    root_ok = False
    for target in _mount_points():
        if target == workdir or target.startswith(workdir + "/"):
            continue
        try:
            st = os.statvfs(target)
        except OSError:
            continue  # hidden under another mount
        keep = 0
        for bit, flag in _KEEP.items():
            if st.f_flag & bit:
                keep |= flag
        # MS_BIND with MS_REMOUNT changes this mount's flags only, never the filesystem shared with the host
        err = mount(None, target, MS_REMOUNT | MS_BIND | MS_RDONLY | keep)
        if err:
            failed.append(target)
        elif target == "/":
            root_ok = True
    mount(workdir.encode(), workdir, MS_REMOUNT | MS_BIND)  # the work directory stays writable
    return {"readonly_filesystem": root_ok, "readonly_failed": failed[:8]}


def main() -> None:
    spec = json.loads(sys.argv[1])
    status = {}
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
    workdir = spec["workdir"]
    if spec.get("remount"):
        status.update(_read_only_except(libc, workdir))
    for name, value in spec["limits"].items():
        if value is not None:
            resource.setrlimit(getattr(resource, name), (value, value))
    uid, gid = spec.get("uid"), spec.get("gid")
    if uid is not None:
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
        # the parent-death signal is cleared by a change of user; arm it again so the sample dies with its launcher
        libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)
    status["uid"] = os.getuid()
    # no setuid binary may give the sample its privileges back
    status["no_new_privs"] = libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
    os.chdir(workdir)
    with os.fdopen(spec["status_fd"], "w") as fh:
        fh.write(json.dumps(status) + "\n")
    argv = spec["argv"]
    os.execve(argv[0], argv, spec["env"])


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # reaches the evaluator through stderr; the sample never started
        sys.stderr.write(f"sandbox setup failed: {type(e).__name__}: {e}\n")
        sys.exit(121)
