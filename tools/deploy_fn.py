#!/usr/bin/env python3
"""Redeploy ONE function's code, and the shared layer when it changed, without Terraform (the fast
inner loop).

    python tools/deploy_fn.py send_message --name-prefix wschat-dev
    make deploy-fn FN=send_message ENV=dev

1. Rebuilds build/functions/<name>.zip and build/layer.zip with tools/build.py's deterministic
   packager (the bytes `make build` makes).
2. Layer: when the shared layer the function runs (<prefix>-shared:<n>) differs from build/layer.zip
   (a change under shared/chat or requirements/layer.txt), points THIS function at a layer version
   holding build/layer.zip: an existing one (e.g. Terraform's, when a change is reverted) or a newly
   published one. Other functions keep theirs (listed in the report). Without this a handler that
   needs the new shared code would fail at import.
3. Code: when the function's CodeSha256 differs from the zip's, update_function_code, guarded by
   the function's RevisionId (a concurrent change fails the deploy instead of being overwritten).
4. Nothing unused is published: no function version (API Gateway invokes $LATEST), and layer
   versions published by deploy-fn that no function uses any more are deleted. Terraform's own layer
   versions are never touched.

Configuration, IAM and environment stay Terraform's. The code and layer pushed here are drift:
`make plan` reports it (docs/terraform.md, "Drift"). The AWS endpoint comes from the usual boto3
configuration, including AWS_ENDPOINT_URL (tests point it at moto).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.util
import json
import os
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the manifest package, when run as `python tools/deploy_fn.py`
from manifest import Manifest, load_manifest  # noqa: E402

NAME_PREFIX = re.compile(r"^[a-z][a-z0-9-]{0,39}$")  # terraform/variables.tf name_prefix
DEPLOY_FN_MARK = "deploy-fn"  # description prefix of the layer versions deploy-fn publishes


class DeployError(Exception):
    """A redeploy that must stop (unknown function, code mismatch, failed update)."""


@dataclass(frozen=True)
class DeployResult:
    function: str
    function_name: str
    zip_path: str
    previous_code_sha256: str
    code_sha256: str
    changed: bool
    layer_arn: str = ""
    layer_published: bool = False
    functions_on_older_layers: list[str] = field(default_factory=list)
    layer_versions_deleted: list[str] = field(default_factory=list)


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


def build_layer_zip(build_dir: Path) -> Path:
    """Builds <build_dir>/layer.zip exactly as `make build` does."""
    build = _build_module()
    target = build_dir / "layer.zip"
    build.write_zip(target, build.layer_files())
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


def _layer_parts(arn: str) -> tuple[str, int]:
    """arn:aws:lambda:<region>:<account>:layer:<name>:<version> -> (name, version)."""
    *_, name, version = arn.split(":")
    return name, int(version)


def _functions_using(client: Any) -> dict[str, list[str]]:
    """Layer version ARN -> the functions (of this account and region) that use it."""
    users: dict[str, list[str]] = {}
    for page in client.get_paginator("list_functions").paginate():
        for fn in page["Functions"]:
            for layer in fn.get("Layers") or []:
                users.setdefault(layer["Arn"], []).append(fn["FunctionName"])
    return users


def _existing_layer_version(client: Any, layer_name: str, sha256: str) -> str | None:
    """The newest version of the layer that already holds exactly these bytes, if any."""
    for page in client.get_paginator("list_layer_versions").paginate(LayerName=layer_name):
        for version in page["LayerVersions"]:  # newest first
            number = _layer_parts(version["LayerVersionArn"])[1]
            if client.get_layer_version(LayerName=layer_name, VersionNumber=number)["Content"]["CodeSha256"] == sha256:
                return version["LayerVersionArn"]
    return None


def _delete_unused_deploy_fn_layers(client: Any, layer_name: str) -> list[str]:
    """Deletes the layer versions deploy-fn published that no function uses any more."""
    used = _functions_using(client)
    deleted = []
    for page in client.get_paginator("list_layer_versions").paginate(LayerName=layer_name):
        for version in page["LayerVersions"]:
            arn = version["LayerVersionArn"]
            if (version.get("Description") or "").startswith(DEPLOY_FN_MARK) and arn not in used:
                client.delete_layer_version(LayerName=layer_name, VersionNumber=_layer_parts(arn)[1])
                deleted.append(arn)
    return deleted


def deploy(
    function: str,
    *,
    name_prefix: str | None = None,
    function_name: str | None = None,
    zip_path: Path | None = None,
    layer_zip_path: Path | None = None,
    build_dir: Path = ROOT / "build",
    force: bool = False,
    client: Any = None,
    manifest: Manifest | None = None,
) -> DeployResult:
    manifest = manifest if manifest is not None else load_manifest(ROOT)
    if function not in manifest.functions:
        known = ", ".join(sorted(manifest.functions))
        raise DeployError(f"unknown function {function!r}; manifest.json has: {known}")
    if not name_prefix or not NAME_PREFIX.match(name_prefix):
        raise DeployError(f"name prefix {name_prefix!r} is not a stack's name_prefix (e.g. wschat-dev): give "
                          "--name-prefix (or NAME_PREFIX / ENV) matching terraform/envs/<env>.tfvars")
    function_name = function_name or f"{name_prefix}-{function}"
    layer_name = f"{name_prefix}-shared"

    path = zip_path if zip_path is not None else build_zip(function, build_dir)
    payload = path.read_bytes()
    local_sha = code_sha256(payload)
    layer_path = layer_zip_path if layer_zip_path is not None else build_layer_zip(build_dir)
    layer_bytes = layer_path.read_bytes()

    client = client if client is not None else lambda_client()
    current = client.get_function_configuration(FunctionName=function_name)
    previous_sha = current["CodeSha256"]
    layers = [layer["Arn"] for layer in current.get("Layers") or []]
    shared = [arn for arn in layers if _layer_parts(arn)[0] == layer_name]
    if len(shared) != 1:
        raise DeployError(f"{function_name} does not use exactly one {layer_name} layer (it has {layers}): "
                          "run `make plan` + `make apply` to deploy the stack first")
    deployed_layer = client.get_layer_version(LayerName=layer_name, VersionNumber=_layer_parts(shared[0])[1])
    layer_changed = deployed_layer["Content"]["CodeSha256"] != code_sha256(layer_bytes)
    code_changed = previous_sha != local_sha or force
    if not layer_changed and not code_changed:
        return DeployResult(function, function_name, str(path), previous_sha, local_sha, False, shared[0])

    # RevisionId: fail instead of silently overwriting a concurrent change (moto omits it).
    guard = {"RevisionId": current["RevisionId"]} if current.get("RevisionId") else {}
    layer_arn, layer_published = shared[0], False
    if layer_changed:
        layer_arn = _existing_layer_version(client, layer_name, code_sha256(layer_bytes))
        if layer_arn is None:  # e.g. back to main's layer: Terraform's version is reused, not re-published
            published = client.publish_layer_version(
                LayerName=layer_name,
                Description=f"{DEPLOY_FN_MARK} {function} {code_sha256(layer_bytes)[:12]}",
                Content={"ZipFile": layer_bytes},
                CompatibleRuntimes=[current["Runtime"]],
                CompatibleArchitectures=current.get("Architectures") or ["x86_64"],
            )
            layer_arn, layer_published = published["LayerVersionArn"], True
        updated = client.update_function_configuration(
            FunctionName=function_name, Layers=[layer_arn if arn == shared[0] else arn for arn in layers], **guard)
        _wait_until_updated(client, function_name)
        guard = {"RevisionId": updated["RevisionId"]} if updated.get("RevisionId") else {}
    if code_changed:
        updated = client.update_function_code(FunctionName=function_name, ZipFile=payload, Publish=False, **guard)
        if updated["CodeSha256"] != local_sha:
            raise DeployError(
                f"{function_name}: Lambda reports CodeSha256 {updated['CodeSha256']}, uploaded {local_sha}"
            )
        _wait_until_updated(client, function_name)

    users = _functions_using(client)
    older = sorted(name for arn, names in users.items() if _layer_parts(arn)[0] == layer_name and arn != layer_arn
                   for name in names if name.startswith(f"{name_prefix}-"))
    deleted = _delete_unused_deploy_fn_layers(client, layer_name)
    return DeployResult(function, function_name, str(path), previous_sha, local_sha, True, layer_arn,
                        layer_published, older, deleted)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("function", help="manifest function name, e.g. send_message")
    parser.add_argument("--name-prefix", default=os.environ.get("NAME_PREFIX"), help="e.g. wschat-dev")
    parser.add_argument("--function-name", help="the Lambda function name, if not <prefix>-<function>")
    parser.add_argument("--zip", type=Path, help="upload this zip instead of rebuilding")
    parser.add_argument("--layer-zip", type=Path, help="compare with / publish this layer zip instead of rebuilding")
    parser.add_argument("--build-dir", type=Path, default=ROOT / "build")
    parser.add_argument("--region", default=None, help="default: the usual AWS configuration")
    parser.add_argument("--force", action="store_true", help="upload the code even if it is unchanged")
    args = parser.parse_args(argv)
    try:
        result = deploy(
            args.function,
            name_prefix=args.name_prefix,
            function_name=args.function_name,
            zip_path=args.zip,
            layer_zip_path=args.layer_zip,
            build_dir=args.build_dir,
            force=args.force,
            client=lambda_client(args.region),
        )
    except DeployError as e:
        print(f"deploy-fn: {e}", file=sys.stderr)
        return 2
    print(json.dumps(asdict(result), indent=2))
    if not result.changed:
        print(f"deploy-fn: {result.function_name} already runs this code and layer; nothing to do", file=sys.stderr)
    if result.layer_published:
        print(f"deploy-fn: published {result.layer_arn} for {result.function_name}; still on an older layer: "
              f"{', '.join(result.functions_on_older_layers) or 'none'} (deploy them too, or `make apply`)",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
