"""Code that runs inside the sandbox, in two roles (standard library only).

Init: the first process of a sample (`python -I -S _sandbox_init.py JSON`), run directly or as the first process
of fresh namespaces made by `unshare`. It builds the sample's file system (a minimal root: the system directories
and the interpreter read-only, a size-limited tmpfs as the work directory, nothing else of the host), sets
limits, drops privileges, installs a system-call filter, writes one JSON line of what it achieved to an
inherited status fd (closed before the sample starts) and then replaces itself with the sample's interpreter.

Harness: with tests, that interpreter runs `python -I -c <this file> --harness JSON` as the sample's uid. It runs
the sample's code, then the tests in the same process, and reports a pass only by writing a per-run secret to an
inherited pipe after the tests returned. The secret never is in a file, argument, environment variable, code
object or file descriptor the sample can reach: it lives in the closure of an audit hook that nothing references
but the interpreter, and the hook writes it only when asked from the harness's own frame, in the original process.
The same hook refuses what would let the sample skip or rewrite the tests (trace and profile functions, other
audit hooks, ctypes, walks over every object) and marks the run failed when the sample tries.
"""

import ctypes
import json
import os
import resource
import sys

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_MOVE, MS_REC = 32, 4096, 8192, 16384
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21
MNT_DETACH = 2
# statvfs flag bit -> mount flag; a remount in a user namespace must keep these or the kernel refuses it
_KEEP = {1: MS_RDONLY, 2: MS_NOSUID, 4: MS_NODEV, 8: MS_NOEXEC, 1024: MS_NOATIME, 2048: MS_NODIRATIME, 4096: MS_RELATIME}
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_SECCOMP, PR_CAPBSET_DROP = 1, 4, 22, 24
PR_SET_SECUREBITS, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 28, 38, 47, 4

# what the sample sees of the host, read-only; a link among them (merged /usr) is copied as a link
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
_DEVICES = ("null", "zero", "full", "random", "urandom")


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash as octal escapes
    for code, ch in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, ch)
    return field


def _mount_points() -> list:
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        return [_unescape(line.split()[4]) for line in fh]


def _mount(libc, src, target, fstype, flags, data=None) -> None:
    enc = [None if s is None else str(s).encode() for s in (src, target, fstype, data)]
    if libc.mount(enc[0], enc[1], enc[2], flags, enc[3]) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def _read_only(libc, targets, writable) -> list:
    """Remount each target read-only (this mount only, never the filesystem shared with the host); returns failures."""
    failed = []
    for target in targets:
        if target in writable:
            continue
        try:
            st = os.statvfs(target)
        except OSError:
            continue  # hidden under another mount
        keep = 0
        for bit, flag in _KEEP.items():
            if st.f_flag & bit:
                keep |= flag
        try:
            _mount(libc, None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | keep)
        except OSError:
            failed.append(target)
    return failed


def _scratch(libc, target, spec, files) -> None:
    """A tmpfs of spec["disk_bytes"] at target, owned by the sample, holding the program files."""
    opts = f"size={spec['disk_bytes']},nr_inodes={spec['max_files']},mode=0700"
    if spec.get("uid") is not None:
        opts += f",uid={spec['uid']},gid={spec['gid']}"
    _mount(libc, "tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, opts)
    for name, data in files.items():
        path = os.path.join(target, name)
        with open(path, "wb") as fh:
            fh.write(data)
        if spec.get("uid") is not None:
            os.chown(path, spec["uid"], spec["gid"])


def _program_files(workdir) -> dict:
    files = {}
    for name in os.listdir(workdir):
        with open(os.path.join(workdir, name), "rb") as fh:
            files[name] = fh.read()
    return files


def _pivot_root(libc, new) -> None:
    """Make `new` the root; the old root is detached, so nothing of it stays reachable."""
    os.chdir(new)
    nr = {"x86_64": 155, "aarch64": 41}.get(os.uname().machine)
    if nr is not None and libc.syscall(nr, b".", b".") == 0:
        # pivot_root(".", ".") stacks the old root on top of the new one: unmount it and the new one shows
        if libc.umount2(b".", MNT_DETACH) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"umount old root: {os.strerror(err)}")
    else:
        _mount(libc, new, "/", None, MS_MOVE)
        os.chroot(".")
    os.chdir("/")


def _minimal_root(libc, spec, files) -> dict:
    """Build a root holding only the system directories and the interpreter (read-only), /dev's harmless
    devices and the work directory (a size-limited tmpfs), then switch to it. No /proc, /tmp, /run or home."""
    new, workdir = spec["root_dir"], spec["workdir"]
    _mount(libc, "tmpfs", new, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,nr_inodes=1024,mode=0755")
    visible = []
    for src, dst in [(d, d) for d in SYSTEM_DIRS] + [tuple(b) for b in spec.get("binds", [])]:
        if not os.path.lexists(src) or any(dst == v or dst.startswith(v + "/") for v in visible):
            continue  # a bind below a visible directory would write into the host's copy of it
        target = new + dst
        os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
        if os.path.islink(src):
            os.symlink(os.readlink(src), target)
        elif os.path.isdir(src):
            os.makedirs(target, mode=0o755, exist_ok=True)
            _mount(libc, src, target, None, MS_BIND | MS_REC)
        else:
            continue
        visible.append(dst)
    os.mkdir(new + "/dev", 0o755)
    for name in _DEVICES:
        open(f"{new}/dev/{name}", "wb").close()
        _mount(libc, f"/dev/{name}", f"{new}/dev/{name}", None, MS_BIND)
    os.mkdir(new + "/tmp", 0o755)  # exists for programs that look, never writable
    os.makedirs(new + workdir, mode=0o755, exist_ok=True)
    _scratch(libc, new + workdir, spec, files)
    inside = [t for t in _mount_points() if t == new or t.startswith(new + "/")]
    failed = _read_only(libc, inside, {new + workdir})
    _pivot_root(libc, new)
    return {"minimal_root": True, "visible_paths": visible, "readonly_filesystem": not failed,
            "readonly_failed": [f[len(new):] or "/" for f in failed][:8], "disk_quota_bytes": spec["disk_bytes"]}


def _host_root_read_only(libc, spec, files) -> dict:
    """Fallback when no minimal root can be built: the host's mounts read-only, the work directory a tmpfs."""
    workdir = spec["workdir"]
    quota = None
    try:
        _scratch(libc, workdir, spec, files)
        quota = spec["disk_bytes"]
    except OSError:
        _mount(libc, workdir, workdir, None, MS_BIND | MS_REC)
    failed = _read_only(libc, _mount_points(), {workdir})
    return {"minimal_root": False, "readonly_filesystem": "/" not in failed, "readonly_failed": failed[:8],
            "disk_quota_bytes": quota}


def _drop_capabilities(libc) -> bool:
    """In a user namespace the sample is its root: take every capability away, for good."""
    # no root privileges on exec, no uid-change fixups, no ambient raise; each locked
    if libc.prctl(PR_SET_SECUREBITS, 0x1 | 0x2 | 0x4 | 0x8 | 0x20 | 0x40 | 0x80, 0, 0, 0) != 0:
        return False
    cap = 0
    while libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0:
        cap += 1
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable for both 32-bit halves: all empty
    return libc.capset(ctypes.byref(Header(0x20080522, 0)), data) == 0


# x86_64 and aarch64: audit arch, system-call numbers, whether the x32 ABI needs refusing
_SYSCALLS = {
    "x86_64": (0xC000003E, {"socket": 41, "clone": 56, "ptrace": 101, "unshare": 272, "setns": 308,
                            "process_vm_readv": 310, "process_vm_writev": 311, "io_uring_setup": 425,
                            "clone3": 435}, True),
    "aarch64": (0xC00000B7, {"socket": 198, "clone": 220, "ptrace": 117, "unshare": 97, "setns": 268,
                             "process_vm_readv": 270, "process_vm_writev": 271, "io_uring_setup": 425,
                             "clone3": 435}, False),
}
_CLONE_NEW = 0x7E020000  # CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
_AF_UNIX, _EPERM, _EACCES, _ENOSYS = 1, 1, 13, 38


def _seccomp_program(machine):
    arch, nr, x32 = _SYSCALLS[machine]
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, errno = 0x7FFF0000, 0x00050000
    prog = [(ld, 0, 0, 4), (jeq, 1, 0, arch), (ret, 0, 0, errno | _EPERM), (ld, 0, 0, 0)]  # a foreign ABI: refuse all
    if x32:
        prog += [(jge, 0, 1, 0x40000000), (ret, 0, 0, errno | _EPERM)]
    # new namespaces (user namespaces above all), other processes' memory, io_uring (it can make sockets)
    for name in ("unshare", "setns", "ptrace", "process_vm_readv", "process_vm_writev", "io_uring_setup"):
        prog += [(jeq, 0, 1, nr[name]), (ret, 0, 0, errno | _EPERM)]
    # clone3's flags are behind a pointer a filter cannot read: "not implemented" makes libc fall back to clone
    prog += [(jeq, 0, 1, nr["clone3"]), (ret, 0, 0, errno | _ENOSYS)]
    prog += [(jeq, 0, 4, nr["clone"]), (ld, 0, 0, 16), (jset, 0, 1, _CLONE_NEW), (ret, 0, 0, errno | _EPERM),
             (ret, 0, 0, allow)]
    # a Unix socket reaches host services through the file system; socketpair() stays
    prog += [(jeq, 0, 4, nr["socket"]), (ld, 0, 0, 16), (jeq, 0, 1, _AF_UNIX), (ret, 0, 0, errno | _EACCES),
             (ret, 0, 0, allow)]
    return prog + [(ret, 0, 0, allow)]


def _install_seccomp(libc) -> bool:
    machine = os.uname().machine
    if machine not in _SYSCALLS:
        return False

    class Filter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]

    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(Filter))]

    rows = _seccomp_program(machine)
    table = (Filter * len(rows))(*[Filter(*r) for r in rows])
    return libc.prctl(PR_SET_SECCOMP, 2, ctypes.byref(Prog(len(rows), table)), 0, 0) == 0


def main() -> None:
    spec = json.loads(sys.argv[1])
    status = {}
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
    workdir = spec["workdir"]
    harness_src = None
    if spec.get("harness"):
        with open(__file__, encoding="utf-8") as fh:  # read now: the sample's root may not hold this file
            harness_src = fh.read()
    if spec.get("namespaces"):
        files = _program_files(workdir)
        try:
            status.update(_minimal_root(libc, spec, files))
        except OSError as e:
            status.update(_host_root_read_only(libc, spec, files))
            status["minimal_root_error"] = str(e)[:200]
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
    elif spec.get("namespaces") and os.getuid() == 0:
        status["capabilities_dropped"] = _drop_capabilities(libc)
    status["uid"] = os.getuid()
    # no setuid binary may give the sample its privileges back; also what lets an unprivileged process use seccomp
    status["no_new_privs"] = libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
    status["seccomp"] = status["no_new_privs"] and _install_seccomp(libc)
    os.chdir(workdir)
    with os.fdopen(spec["status_fd"], "w") as fh:
        fh.write(json.dumps(status) + "\n")
    if harness_src is not None:
        argv = [spec["python"], "-I", "-c", harness_src, "--harness", json.dumps(spec["harness"])]
    else:
        argv = [spec["python"], "-I", "main.py"]
    os.execve(argv[0], argv, spec["env"])


# ----------------------------------------------------------------------------------------------------
# The harness. Everything it uses after the sample's code starts is bound when a function is defined (default
# arguments, closures), before that code runs: the sample may replace names in any module, including this one.

_SETUP, _VERDICT, _TAINT = "auroram.sandbox.setup", "auroram.sandbox.verdict", "auroram.sandbox.taint"
# audit events no tested sample needs; each could skip a test, rewrite it, or find the secret
_REFUSED = frozenset({"sys.settrace", "sys.setprofile", "sys.monitoring.register_callback", "sys.addaudithook",
                      "sys._current_frames", "sys._current_exceptions", "gc.get_objects", "gc.get_referrers",
                      "gc.get_referents"})
_REFUSED_PREFIXES = ("ctypes.",)
_REFUSED_IMPORTS = ("ctypes", "_ctypes", "_test", "_xxtestfuzz")  # memory access and test-only C helpers
_SECRET_BYTES = 32


def _arm(secret_fd, verdict_fd, harness_functions, type_=type, str_=str, bytes_=bytes, id_=id, len_=len,
         getframe=sys._getframe, getpid=os.getpid, write=os.write, _exit=os._exit, lstat=os.lstat,
         readlink=os.readlink, refused=_REFUSED, refused_prefixes=_REFUSED_PREFIXES,
         refused_imports=_REFUSED_IMPORTS, setup=_SETUP, verdict=_VERDICT, taint=_TAINT, error=RuntimeError):
    """Read the run's secret and install the audit hook that alone holds it. Returns nothing the sample could use."""
    secret = b""
    while len(secret) < _SECRET_BYTES:
        chunk = os.read(secret_fd, _SECRET_BYTES - len(secret))
        if not chunk:
            raise RuntimeError("sandbox: the run secret is missing")
        secret += chunk
    os.close(secret_fd)
    os.set_inheritable(verdict_fd, False)  # a program the sample execs cannot write to it
    pid = getpid()
    guarded = frozenset(id_(f) for f in harness_functions)
    state = [None, None]  # the harness frame once set up; the first refused action

    def is_mem(path):
        # /proc/<pid>/mem, also through links the sample made
        for _ in range(8):
            if path.rsplit("/", 1)[-1] == "mem":
                return True
            try:
                if lstat(path).st_mode & 0o170000 != 0o120000:
                    return False
                path = readlink(path)
            except OSError:
                return False
        return True

    def refuse(what):
        if state[1] is None:
            state[1] = what
        raise error(f"sandbox: {what} is not allowed in a tested sample")

    def hook(event, args):
        # only exact strings are compared: a str subclass would run the sample's __eq__ inside this hook
        if type_(event) is not str_:
            return
        if event == verdict:
            if state[0] is not None and getframe(1) is state[0] and getpid() == pid and state[1] is None:
                write(verdict_fd, secret)
                _exit(0)
            reason = state[1] or "a verdict from outside the harness"
            write(2, f"sandbox: no pass: the sample tried {reason}\n".encode())
            _exit(1)
        if event in refused or event.startswith(refused_prefixes):
            refuse(event)
        elif event == "import":
            name = args[0]
            if type_(name) is str_ and (name in refused_imports or name.startswith(refused_imports)):
                refuse(f"import {name}")
        elif event == "object.__setattr__":
            name = args[1]
            if id_(args[0]) in guarded and type_(name) is str_:
                refuse(f"replacing the harness's {name}")
        elif event == "open":
            path = args[0]
            if type_(path) is bytes_:
                path = path.decode("utf-8", "surrogateescape")
            if type_(path) is str_ and is_mem(path):
                refuse("reading process memory")
        elif event == setup:
            if state[0] is not None:
                refuse("a second harness")
            state[0] = getframe(1)
        elif event == taint:
            if state[1] is None:
                state[1] = "an always-equal result"

    sys.addaudithook(hook)


_COMPARISONS = ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__sub__", "__rsub__", "__abs__",
                "__round__")
_C_CALLABLES = tuple({type(int.__eq__), type(len), type(str.join), type((1).__eq__)})
_MOCK = "/unittest/mock.py"


def _trusted(fn, lib, type_=type, str_=str, function=type(_arm), c_callables=_C_CALLABLES,
             wrappers=(staticmethod, classmethod), mock=_MOCK):
    """A comparison method is trusted when it is C code or library code other than unittest.mock."""
    if type_(fn) in wrappers:
        fn = fn.__func__
    if type_(fn) in c_callables:
        return True
    if type_(fn) is not function:
        return False  # a callable object, a partial, a mock's proxy: anything may answer True
    name = fn.__code__.co_filename
    return type_(name) is str_ and name.startswith(lib) and not name.endswith(mock)


def _vet(value, who, lib, type_=type, mro_of=type.__dict__["__mro__"].__get__,
         dict_of=type.__dict__["__dict__"].__get__, name_of=type.__dict__["__name__"].__get__, obj=object,
         plain=frozenset({int, float, complex, str, bytes, bool, type(None)}), trusted=_trusted,
         comparisons=_COMPARISONS, missing=object(), audit=sys.audit, taint=_TAINT,
         iterate=((list, list.__iter__), (tuple, tuple.__iter__), (set, set.__iter__),
                  (frozenset, frozenset.__iter__)), dict_=dict, limit=10_000, error=TypeError):
    """Return `value` unless it, or an element of the containers it is made of, has a class whose comparison
    is the sample's own code: such an object can claim to equal whatever the test expects."""
    todo, seen = [(value, 0)], 0
    while todo and seen < limit:
        x, depth = todo.pop()
        seen += 1
        t = type_(x)
        if t in plain:
            continue
        mro = mro_of(t)  # read through type itself: a metaclass cannot answer for it
        for k in mro:
            if k is obj:
                continue
            members = dict_of(k)
            for name in comparisons:
                fn = members.get(name, missing)
                if fn is not missing and fn is not None and not trusted(fn, lib):
                    audit(taint)
                    raise error(f"sandbox: {who} returned a {name_of(t)} whose {name} is not library code "
                                "(always-equal results are not accepted)")
        if depth >= 8:
            continue
        if dict_ in mro:
            todo.extend((v, depth + 1) for v in dict_.values(x))
            todo.extend((k, depth + 1) for k in dict_.keys(x))
            continue
        for base, it in iterate:
            if base in mro:
                todo.extend((v, depth + 1) for v in it(x))
                break
    return value


def _call_vetted(bound, /, *args, **kwargs):
    f, who, lib, vet = bound  # a tuple: nothing in it can be swapped while f runs
    return vet(f(*args, **kwargs), who, lib)


def _run_sample(code, ns, exec_=exec):
    exec_(code, ns)
    return ns


def _run_tests(test_code, entry, builtins_items, lib, ns, dict_=dict, list_=list, type_=type, exec_=exec,
               function=type(_arm), method=type(_arm.__get__(0)), call_vetted=_call_vetted, vet=_vet,
               trusted=_trusted, any_=any, error=RuntimeError):
    """Run the tests against the sample's names: with the builtins as they were before the sample ran, and every
    function of the sample's behind the equality check. HumanEval tests define check(candidate); MBPP's assert."""
    tns = dict_(ns)
    tns["__builtins__"] = dict_(builtins_items)
    for name, value in list_(tns.items()):
        if type_(value) is function and not trusted(value, lib):
            tns[name] = method(call_vetted, (value, name, lib, vet))
    exec_(test_code, tns)
    if entry is None:
        return True
    check = tns.get("check")
    if type_(check) is not function or not any_(check.__code__ is c for c in test_code.co_consts):
        raise error("sandbox: the tests do not define check(candidate)")
    if entry not in tns:
        raise NameError(f"name {entry!r} is not defined")
    check(tns[entry])
    return True


def _flush(_, out=sys.__stdout__, err=sys.__stderr__):
    for stream in (out, err):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    return _


def _harness(spec, audit=sys.audit, run_sample=_run_sample, run_tests=_run_tests, flush=_flush):
    import builtins
    import types

    sys.settrace(None)
    sys.setprofile(None)
    # not dumpable: no other process of this uid may read this one's memory or file descriptors
    ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    for name in [m for m in sys.modules if m == "ctypes" or m.startswith(("ctypes.", "_ctypes"))]:
        del sys.modules[name]  # importing it again is refused by the hook: no raw memory access for the sample
    globals().pop("ctypes")  # nor through this module, which the sample can reach from any frame
    lib = tuple(os.path.realpath(p) + "/" for p in sys.path if p.startswith("/") and os.path.isdir(p))
    with open(spec["main"], encoding="utf-8") as fh:
        sample_code = compile(fh.read(), spec["main"], "exec", dont_inherit=True)
    with open(spec["tests"], encoding="utf-8") as fh:
        test_code = compile(fh.read(), spec["tests"], "exec", dont_inherit=True)
    module = types.ModuleType("__main__")
    ns = module.__dict__
    ns.update(__file__=spec["main"], __builtins__=builtins)
    sys.modules["__main__"] = module
    sys.argv = ["main.py"]
    builtins_items = tuple(builtins.__dict__.items())
    _arm(spec["secret_fd"], spec["verdict_fd"], (_harness, _run_sample, _run_tests, _call_vetted, _vet, _trusted,
                                                 _flush, _harness_main))
    audit(_SETUP)
    # one expression: every callable and argument is on the stack before the sample's code runs
    audit(_VERDICT, flush(run_tests(test_code, spec["entry"], builtins_items, lib, run_sample(sample_code, ns))))


def _harness_main(arg, harness=_harness, flush=_flush, _exit=os._exit):
    import traceback

    try:
        harness(json.loads(arg))  # ends the process when the tests passed
    except SystemExit as e:
        code = e.code
        if code is not None and type(code) is not int:
            print(code, file=sys.__stderr__)
        flush(None)
        _exit(code if type(code) is int else (0 if code is None else 1))
    except BaseException as e:
        traceback.print_exception(e)
        flush(None)
        _exit(1)
    _exit(1)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--harness"]:
        _harness_main(sys.argv[2])
    try:
        main()
    except Exception as e:  # reaches the evaluator through stderr; the sample never started
        sys.stderr.write(f"sandbox setup failed: {type(e).__name__}: {e}\n")
        sys.exit(121)
