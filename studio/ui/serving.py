"""Starting the studio as a separate process and knowing when it serves: what the benchmark
(cold start) and the tests (a real `python app.py`) both do."""

import socket
import subprocess
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_serving(url: str, process: subprocess.Popen, log: str, timeout_s: float = 120) -> None:
    """Poll `url` until it answers 200; `log` is the file the process writes to, quoted when
    it exits or never answers."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited with {process.returncode}: {open(log).read()[-2000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout_s} s: {open(log).read()[-2000:]}")


def memory_mb(pid: int, field: str = "VmRSS") -> float:
    """A served app's memory (`VmRSS` now, `VmHWM` its peak; Linux /proc), summed over the app
    and its children: its requests run in the engine's process."""
    pids = [pid] + [int(child) for task in Path(f"/proc/{pid}/task").iterdir()
                    for child in (task / "children").read_text().split()]
    kib = 0
    for each in pids:
        status = Path(f"/proc/{each}/status").read_text()
        kib += next(int(line.split()[1]) for line in status.splitlines() if line.startswith(f"{field}:"))
    return kib * 1024 / 1e6
