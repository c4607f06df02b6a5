"""The manifest's functions as the Lambda Python runtime loads and calls them, in one process.

Each ``functions/<name>/<handler file>`` is imported once by file path under a unique module name
(they are all called handler.py), with shared/ on sys.path as the layer is on AWS (/opt/python), and
called with a context object that has the attributes and method of Lambda's. Both runtimes use it:
the thread runtime in the gateway's process, the worker runtime in each worker process.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from emulator import emf
from manifest import Function, Manifest

log = logging.getLogger("emulator")

Handler = Callable[[dict[str, Any], Any], Any]


class LambdaContext:
    """The attributes and method of the Lambda Python runtime's context object."""

    __slots__ = ("function_name", "function_version", "invoked_function_arn", "memory_limit_in_mb",
                 "aws_request_id", "log_group_name", "log_stream_name", "identity", "client_context",
                 "_deadline")

    def __init__(self, fn: Function, arn: str, request_id: str, deadline: float, log_stream: str) -> None:
        self.function_name = fn.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = arn
        self.memory_limit_in_mb = str(fn.memory)  # a string on Lambda too
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{fn.name}"
        self.log_stream_name = log_stream
        self.identity = None
        self.client_context = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def new_log_stream() -> str:
    """A CloudWatch log stream name as Lambda gives each execution environment."""
    return f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"


def handler_path(functions_dir: Path, fn: Function) -> Path:
    return functions_dir / fn.name / fn.handler_file


def function_arn(region: str, account_id: str, name: str) -> str:
    return f"arn:aws:lambda:{region}:{account_id}:function:{name}"


class FunctionSet:
    """The loaded handlers of a manifest; a function that failed to load is reported per invocation,
    as Lambda reports Runtime.ImportModuleError."""

    def __init__(self, manifest: Manifest, functions_dir: Path, shared_dir: Path, *, region: str,
                 account_id: str, only: tuple[str, ...] | None = None, log_stream: str | None = None) -> None:
        self.manifest = manifest
        self.only = only  # load just these functions (a sandbox loads its own); None: all
        self.functions_dir = functions_dir
        self.shared_dir = shared_dir
        self.region = region
        self.account_id = account_id
        self._handlers: dict[str, Handler] = {}
        self._load_errors: dict[str, str] = {}
        self._log_stream = log_stream or new_log_stream()

    def load_all(self) -> None:
        shared = str(self.shared_dir)
        if shared not in sys.path:
            sys.path.insert(0, shared)
        for fn in self.manifest.functions.values():
            if self.only is not None and fn.name not in self.only:
                continue
            try:
                self._handlers[fn.name] = self._load(fn)
            except Exception as exc:  # noqa: BLE001 - reported per invocation, like Runtime.ImportModuleError
                self._load_errors[fn.name] = f"{type(exc).__name__}: {exc}"
                log.error("function %s failed to load: %s", fn.name, self._load_errors[fn.name])

    def _load(self, fn: Function) -> Handler:
        path = handler_path(self.functions_dir, fn)
        module_name = f"_lambda_function_{fn.name}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {path}")
        module: ModuleType = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
        handler = getattr(module, fn.handler_attribute, None)
        if not callable(handler):
            raise ImportError(f"{path} has no callable {fn.handler_attribute!r}")
        return handler

    def loaded_names(self) -> list[str]:
        return sorted(self._handlers)

    def load_errors(self) -> dict[str, str]:
        return dict(self._load_errors)

    def call(self, name: str, event: dict[str, Any], request_id: str, deadline: float) -> Any:
        """Runs one handler synchronously with a Lambda context (on the caller's thread); what it prints
        as EMF reaches the stack's metrics (emulator/emf.py), as CloudWatch Logs reads it on AWS."""
        emf.capture()
        fn = self.manifest.functions[name]
        context = LambdaContext(fn, function_arn(self.region, self.account_id, name), request_id, deadline,
                                self._log_stream)
        return self._handlers[name](event, context)
