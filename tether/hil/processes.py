"""Node processes for HIL: started in their own process groups, always stopped, also on failure.

`NodeProcesses` is a context manager: leaving it (normally, on an exception, or on SIGINT /
SIGTERM delivered to the HIL process, which are turned into exceptions) sends SIGINT to every
node still running so it writes its report, waits a bounded time, then SIGKILLs the process
group. Every child is started with start_new_session, so its own children die with it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO

#: How long a stuck node gets to write its stack dump before SIGKILL.
STACK_DUMP_WAIT_S = 0.5


class NodeFailedError(RuntimeError):
    """A node process exited before it was asked to; the message holds the end of its log."""


class NodeProcesses:
    def __init__(self, log_dir: Path, env: dict[str, str], stop_timeout_s: float = 10.0) -> None:
        self.log_dir = Path(log_dir)
        self.env = env
        self.stop_timeout_s = stop_timeout_s
        self.procs: dict[str, subprocess.Popen] = {}
        self._logs: dict[str, IO[bytes]] = {}
        self._killed: set[str] = set()
        #: Nodes that did not exit within stop_timeout_s of SIGINT: their stacks were dumped to
        #: their logs (SIGUSR1, faulthandler) before SIGKILL.
        self.stuck_on_stop: list[str] = []
        self._old_handlers: dict[int, object] = {}

    def __enter__(self) -> NodeProcesses:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._old_handlers[sig] = signal.signal(sig, self._on_signal)
            except ValueError:  # not the main thread: the caller handles signals
                pass
        return self

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    def start(self, name: str, module: str, args: list[str]) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "wb")  # noqa: SIM115 - closed in stop_all
        self._logs[name] = log
        proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,
            cwd=str(Path(__file__).resolve().parents[2]),
        )
        self.procs[name] = proc
        return proc

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def check_alive(self) -> None:
        """NodeFailedError if a node that was not killed on purpose has exited."""
        for name, p in self.procs.items():
            if name not in self._killed and p.poll() is not None:
                raise NodeFailedError(
                    f"{name} exited with code {p.returncode} before the run ended; its log "
                    f"({self.log_dir / (name + '.log')}) ends with:\n{self.log_tail(name)}"
                )

    def kill(self, name: str) -> None:
        """SIGKILL a node (fault injection): no report, no goodbye, like a crashed process."""
        self._killed.add(name)
        p = self.procs[name]
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait(timeout=5.0)

    def stop_all(self) -> dict[str, int | None]:
        """SIGINT every node, wait up to stop_timeout_s, SIGKILL what is left; returns exit codes."""
        for p in self.procs.values():
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGINT)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + self.stop_timeout_s
        for name, p in self.procs.items():
            remaining = max(0.1, deadline - time.monotonic())
            try:
                p.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                self.stuck_on_stop.append(name)
                try:
                    os.kill(p.pid, signal.SIGUSR1)  # the node's faulthandler dumps every thread's stack
                    time.sleep(STACK_DUMP_WAIT_S)
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(timeout=5.0)
        for log in self._logs.values():
            log.close()
        return {name: p.returncode for name, p in self.procs.items()}

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self.stop_all()
        finally:
            for sig, handler in self._old_handlers.items():
                signal.signal(sig, handler)  # type: ignore[arg-type]
