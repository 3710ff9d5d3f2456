"""A local ES-API server for tests and benchmarks: `noida-db` on a free loopback port.

noida-db speaks the Elasticsearch REST API (it reports version 8.15); its kNN is brute force,
so its speed says nothing about Elasticsearch's. It prints a `GLIBC_2.39 not found` warning
when it starts on some machines and then serves normally.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def noida_executable() -> str | None:
    here = Path(sys.executable).with_name("noida-db")
    return str(here) if here.exists() else shutil.which("noida-db")


class NoidaServer:
    """One noida-db process serving only Elasticsearch; `stop()` and `start()` keep the data."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        exe = noida_executable()
        if exe is None:
            raise FileNotFoundError("noida-db is not installed (pip install noida-db)")
        self.exe = exe
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir / "noida.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [self.exe, "start", "--only", "elasticsearch", "--elasticsearch-port", str(self.port)]
        cmd += ["--host", "127.0.0.1", "--data-dir", str(self.data_dir / "data")]
        with self.log.open("ab") as log:
            # Own process group: noida-db runs its server as a child process, stopped together.
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"noida-db exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url, timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"noida-db did not answer on {self.url} within {timeout:.0f} s")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        pgid = os.getpgid(proc.pid)
        os.killpg(pgid, signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            proc.wait(timeout=10)
        # The server child may outlive the wrapper by a moment: wait until the port is free.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    pass
            except OSError:
                return
            time.sleep(0.1)
        os.killpg(pgid, signal.SIGKILL)
