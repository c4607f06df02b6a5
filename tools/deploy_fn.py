#!/usr/bin/env python3
"""Redeploy ONE function's code without Terraform (the fast inner loop).

Rebuilds build/functions/<name>.zip with tools/build.py's deterministic packager, then
``update_function_code`` -> wait until the update is done -> ``publish_version`` pinned to the
uploaded CodeSha256 (so the published version is exactly this code, even if someone else deploys
at the same time). Only the code changes: configuration, IAM and the layer stay Terraform's.

    python tools/deploy_fn.py send_message --name-prefix wschat-dev
    make deploy-fn FN=send_message ENV=dev

The AWS endpoint comes from the usual boto3 configuration, including AWS_ENDPOINT_URL (tests
point it at moto). Drift: the next ``make plan`` compares Terraform's source_code_hash with the
zip it finds in build/; see docs/terraform.md ("Drift story").
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.util
import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the manifest package, when run as `python tools/deploy_fn.py`
from manifest import Manifest, load_manifest  # noqa: E402


class DeployError(Exception):
    """A redeploy that must stop (unknown function, code mismatch, failed update)."""


@dataclass(frozen=True)
class DeployResult:
    function: str
    function_name: str
    zip_path: str
    previous_code_sha256: str
    code_sha256: str
    version: str | None
    changed: bool


def _build_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("wschat_build", ROOT / "tools" / "build.py")
    if spec is None or spec.loader is None:
        raise DeployError("tools/build.py not found")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_zip(function: str, build_dir: Path) -> Path:
    """Builds <build_dir>/functions/<function>.zip exactly as `make build` does."""
    build = _build_module()
    target = build_dir / "functions" / f"{function}.zip"
    build.write_zip(target, build.function_files(function))
    return target


def code_sha256(zip_bytes: bytes) -> str:
    """Lambda's CodeSha256: base64 of the SHA-256 digest (also Terraform's filebase64sha256)."""
    return base64.b64encode(hashlib.sha256(zip_bytes).digest()).decode("ascii")


def lambda_client(region: str | None = None) -> Any:
    import boto3  # imported here so --help works without the venv

    return boto3.client("lambda", region_name=region)


def _wait_until_updated(client: Any, function_name: str) -> None:
    waiters = client.waiter_names
    name = "function_updated_v2" if "function_updated_v2" in waiters else "function_updated"
    client.get_waiter(name).wait(FunctionName=function_name, WaiterConfig={"Delay": 2, "MaxAttempts": 150})


def deploy(
    function: str,
    *,
    name_prefix: str | None = None,
    function_name: str | None = None,
    zip_path: Path | None = None,
    build_dir: Path = ROOT / "build",
    publish: bool = True,
    force: bool = False,
    client: Any = None,
    manifest: Manifest | None = None,
) -> DeployResult:
    manifest = manifest if manifest is not None else load_manifest(ROOT)
    if function not in manifest.functions:
        known = ", ".join(sorted(manifest.functions))
        raise DeployError(f"unknown function {function!r}; manifest.json has: {known}")
    if function_name is None:
        if not name_prefix:
            raise DeployError("give --name-prefix (or NAME_PREFIX), e.g. wschat-dev, or --function-name")
        function_name = f"{name_prefix}-{function}"

    path = zip_path if zip_path is not None else build_zip(function, build_dir)
    payload = path.read_bytes()
    local_sha = code_sha256(payload)

    client = client if client is not None else lambda_client()
    current = client.get_function_configuration(FunctionName=function_name)
    previous_sha = current["CodeSha256"]
    if previous_sha == local_sha and not force:
        return DeployResult(function, function_name, str(path), previous_sha, local_sha, None, changed=False)

    guard = {"RevisionId": current["RevisionId"]} if current.get("RevisionId") else {}
    # RevisionId: fail instead of silently overwriting a concurrent change (moto omits it).
    updated = client.update_function_code(FunctionName=function_name, ZipFile=payload, Publish=False, **guard)
    if updated["CodeSha256"] != local_sha:
        raise DeployError(
            f"{function_name}: Lambda reports CodeSha256 {updated['CodeSha256']}, uploaded {local_sha}"
        )
    _wait_until_updated(client, function_name)
    version = None
    if publish:
        published = client.publish_version(
            FunctionName=function_name,
            CodeSha256=local_sha,
            Description=f"deploy-fn {function} {local_sha[:12]}",
        )
        version = published["Version"]
    return DeployResult(function, function_name, str(path), previous_sha, local_sha, version, changed=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("function", help="manifest function name, e.g. send_message")
    parser.add_argument("--name-prefix", default=os.environ.get("NAME_PREFIX"), help="e.g. wschat-dev")
    parser.add_argument("--function-name", help="the Lambda function name, if not <prefix>-<function>")
    parser.add_argument("--zip", type=Path, help="upload this zip instead of rebuilding")
    parser.add_argument("--build-dir", type=Path, default=ROOT / "build")
    parser.add_argument("--region", default=None, help="default: the usual AWS configuration")
    parser.add_argument("--no-publish", action="store_true", help="update $LATEST only")
    parser.add_argument("--force", action="store_true", help="upload even if the code is unchanged")
    args = parser.parse_args(argv)
    try:
        result = deploy(
            args.function,
            name_prefix=args.name_prefix,
            function_name=args.function_name,
            zip_path=args.zip,
            build_dir=args.build_dir,
            publish=not args.no_publish,
            force=args.force,
            client=lambda_client(args.region),
        )
    except DeployError as e:
        print(f"deploy-fn: {e}", file=sys.stderr)
        return 2
    print(json.dumps(asdict(result), indent=2))
    if not result.changed:
        print(f"deploy-fn: {result.function_name} already runs this code; nothing to do", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
