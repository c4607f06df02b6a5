"""The embedded DynamoDB: DynamoDB Local (Java, from the pinned npm package) or moto's server when Java
is missing; plus table creation from the PynamoDB models."""

from __future__ import annotations

import asyncio
import atexit
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp
import psutil

#: DynamoDB Local is the local stack's busiest process under load (`make load-ceiling`). A stack lives
#: minutes, not days: C1 alone (no C2 compiler threads) and the serial collector (no GC threads on a
#: small machine) cut the JVM's CPU per request by ~30% in its first thousands of requests and ~10% after
#: (docs/reliability.md, "The stack's ceiling"); -disableTelemetry: nothing leaves this machine.
JVM_FLAGS = ("-Xms64m", "-Xmx512m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")
log = logging.getLogger("emulator")

READY_TIMEOUT_S = 60.0
PORT_ATTEMPTS = 5


class PortTaken(RuntimeError):
    """DynamoDB Local could not bind the port picked for it: another process took it first."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """preexec_fn: the JVM gets SIGTERM if this process dies, even by SIGKILL (Linux prctl)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class EmbeddedDynamoDB:
    """``mode``: auto (DynamoDB Local if java is on PATH, else moto), local, moto."""

    def __init__(self, repo_root: Path, mode: str = "auto", host: str = "127.0.0.1") -> None:
        if mode not in ("auto", "local", "moto"):
            raise ValueError(f"dynamodb mode must be auto, local or moto, got {mode!r}")
        self.repo_root = repo_root
        self.mode = mode
        self.host = host
        self.backend = ""
        self.endpoint = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._moto: Any = None
        self._logdir: str | None = None

    async def start(self) -> str:
        use_local = self.mode == "local" or (self.mode == "auto" and shutil.which("java") is not None)
        if self.mode == "auto" and not use_local:
            log.warning("java not found: using moto's DynamoDB server (slower Query; no TTL)")
        if use_local:
            try:
                await self._start_local()
                return self.endpoint
            except Exception as exc:
                if self.mode == "local":
                    raise
                log.warning("DynamoDB Local unavailable (%s): falling back to moto's server", exc)
                self._stop_local()
        await asyncio.get_running_loop().run_in_executor(None, self._start_moto)
        return self.endpoint

    async def _start_local(self) -> None:
        loop = asyncio.get_running_loop()
        jar_dir = await loop.run_in_executor(None, self._jar_dir)
        for attempt in range(1, PORT_ATTEMPTS + 1):
            try:
                await self._start_jvm(jar_dir)
                return
            except PortTaken as exc:
                # The JVM takes no port 0: the free port we picked was bound by another process before
                # the JVM could (other stacks, other users of this machine). Pick another one.
                log.warning("DynamoDB Local could not bind its port (attempt %d of %d): %s", attempt,
                            PORT_ATTEMPTS, exc)
                self._stop_local()
        raise RuntimeError(f"DynamoDB Local found no free port in {PORT_ATTEMPTS} attempts")

    async def _start_jvm(self, jar_dir: Path) -> None:
        port = free_port(self.host)
        self._logdir = tempfile.mkdtemp(prefix="dynamodb-local-")
        logfile = open(os.path.join(self._logdir, "dynamodb-local.log"), "wb")  # noqa: SIM115
        cmd = ["java", f"-Djava.library.path={jar_dir / 'DynamoDBLocal_lib'}", *JVM_FLAGS,
               "-jar", "DynamoDBLocal.jar", "-inMemory", "-disableTelemetry", "-port", str(port)]
        # Popen from the loop's thread: PDEATHSIG follows the thread that forks.
        self._proc = subprocess.Popen(cmd, cwd=jar_dir, stdout=logfile, stderr=subprocess.STDOUT,  # noqa: S603
                                      stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent,  # noqa: PLW1509
                                      start_new_session=True)
        logfile.close()
        atexit.register(self._stop_local)
        self.endpoint = f"http://{self.host}:{port}"
        self.backend = "DynamoDB Local"
        await self._wait_ready()

    @property
    def pid(self) -> int | None:
        """DynamoDB Local's JVM process id (None with moto, which runs in this process)."""
        return self._proc.pid if self._proc is not None else None

    def _jar_dir(self) -> Path:
        script = self.repo_root / "tools" / "dynamodb_local.sh"
        out = subprocess.run([str(script), "jar"], check=True, capture_output=True, text=True,  # noqa: S603
                             timeout=600)
        return Path(out.stdout.strip().splitlines()[-1])

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        headers = {"X-Amz-Target": "DynamoDB_20120810.ListTables", "Content-Type": "application/x-amz-json-1.0",
                   "Authorization": "AWS4-HMAC-SHA256 Credential=local/20200101/us-east-1/dynamodb/aws4_request, "
                                    "SignedHeaders=host, Signature=0"}
        async with aiohttp.ClientSession() as session:
            while True:
                if self._proc is not None and self._proc.poll() is not None:
                    tail = self._log_tail()
                    if "Address already in use" in tail or "BindException" in tail:
                        raise PortTaken(self.endpoint)
                    raise RuntimeError(f"DynamoDB Local exited with {self._proc.returncode}: {tail}")
                try:
                    async with session.post(self.endpoint, data=b"{}", headers=headers,
                                            timeout=aiohttp.ClientTimeout(total=2)) as resp:
                        if resp.status < 500 and self._listens_itself():
                            return  # else another process answers on our port: ours will fail to bind
                except (aiohttp.ClientError, TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"DynamoDB Local not ready after {READY_TIMEOUT_S:.0f} s: {self._log_tail()}")
                await asyncio.sleep(0.05)  # readiness poll interval, not a synchronisation sleep

    def _listens_itself(self) -> bool:
        """True when the listening socket on our port is the JVM's we started (not another process's)."""
        if self._proc is None:
            return True
        port = int(self.endpoint.rsplit(":", 1)[1])
        try:
            sockets = psutil.Process(self._proc.pid).net_connections(kind="tcp")
        except psutil.Error:
            return False
        return any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port for c in sockets)

    def _log_tail(self) -> str:
        if not self._logdir:
            return ""
        try:
            return Path(self._logdir, "dynamodb-local.log").read_text(errors="replace")[-800:]
        except OSError:
            return ""

    def _start_moto(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per request otherwise
        self._moto = ThreadedMotoServer(ip_address=self.host, port=0, verbose=False)
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self.backend = "moto server"

    def _stop_local(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if self._logdir:
            shutil.rmtree(self._logdir, ignore_errors=True)
            self._logdir = None

    async def stop(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._stop_local)
        if self._moto is not None:
            moto, self._moto = self._moto, None
            await loop.run_in_executor(None, moto.stop)


def create_tables(env: Mapping[str, str]) -> list[str]:
    """Create every table of chat.models.TABLE_MODELS (idempotent). Blocking: run it in a thread.

    Uses the handlers' own models and settings, so the schema is exactly the one the code expects.
    ``create_table`` also enables TTL for models with a TTLAttribute (DynamoDB Local and moto accept it).
    """
    from chat import models
    from chat.config import Settings

    models.bind(Settings.from_env(env))
    created = []
    for model in models.TABLE_MODELS.values():
        if not model.exists():
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
        created.append(model.Meta.table_name)
    models.reset_binding()
    return created
