"""A local AWS for `make tf-e2e`: the extended moto server (moto_ext.py) in its own virtualenv.

    with LocalCloud.start() as cloud:      # bootstraps .venv-moto, free loopback port
        cloud.endpoint                     # http://127.0.0.1:<port>
        cloud.client("lambda")             # boto3 client pointed at it (fake credentials)

The server is stopped on every way out of the `with` block (exception, KeyboardInterrupt, SIGTERM
turned into one by the caller), and it exits by itself when this process dies: it watches its
standard input, which only this process holds open.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-moto"
LOCK = ROOT / "requirements" / "moto.txt"
SERVER = Path(__file__).resolve().parent / "moto_ext.py"
REGION = "eu-west-1"
ACCOUNT_ID = "123456789012"  # moto's default account
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
READY_TIMEOUT_S = 60.0


class LocalCloudError(Exception):
    """The local cloud could not be prepared or started."""


def ensure_venv() -> Path:
    """The moto virtualenv's python, (re)installed from requirements/moto.txt when that changed."""
    done = subprocess.run([str(ROOT / "tools" / "tool_venv.sh"), str(VENV), str(LOCK)],  # noqa: S603
                          check=False, cwd=ROOT)
    if done.returncode != 0:
        raise LocalCloudError(f"could not install {LOCK.relative_to(ROOT)} into {VENV.name}")
    return VENV / "bin" / "python"


@dataclass
class LocalCloud:
    process: subprocess.Popen[str]
    endpoint: str
    region: str = REGION
    log: list[str] = field(default_factory=list)

    @classmethod
    @contextmanager
    def start(cls, *, python: Path | None = None) -> Iterator[LocalCloud]:
        python = python or ensure_venv()
        process = subprocess.Popen(  # noqa: S603
            [str(python), str(SERVER), "--host", "127.0.0.1", "--port", "0"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,  # Ctrl-C in the terminal reaches us, and we stop it in order
        )
        cloud = None
        try:
            cloud = cls(process, _wait_ready(process))
            yield cloud
        finally:
            _stop(process)

    def env(self) -> dict[str, str]:
        """Environment for boto3 and tools/deploy_fn.py: every AWS call goes to the local cloud."""
        return {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint, "AWS_DEFAULT_REGION": self.region,
                "AWS_REGION": self.region}

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, endpoint_url=self.endpoint, region_name=self.region,
                            aws_access_key_id="testing", aws_secret_access_key="testing")


def _wait_ready(process: subprocess.Popen[str]) -> str:
    """Reads the server's output until its READY line; fails with what it printed otherwise."""
    assert process.stdout is not None
    deadline = time.monotonic() + READY_TIMEOUT_S
    seen: list[str] = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        line = process.stdout.readline()
        if not line:  # EOF: the server died
            break
        if line.startswith("READY "):
            _drain(process)
            return line.split(" ", 1)[1].strip()
        seen.append(line.rstrip())
    tail = "\n".join(seen[-20:])
    raise LocalCloudError(f"moto server did not start (exit {process.poll()}):\n{tail}")


def _drain(process: subprocess.Popen[str]) -> None:
    """Keeps reading the server's request log so a full pipe never blocks it."""
    import threading

    def run() -> None:
        assert process.stdout is not None
        for _ in process.stdout:
            pass

    threading.Thread(target=run, daemon=True).start()


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
