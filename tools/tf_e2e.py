#!/usr/bin/env python3
"""`make tf-e2e ENV=dev|prod`: the real Terraform and AWS provider apply the whole stack to a local
AWS (moto server, tools/local_cloud), driven through the project's own flow, then tear it down.

    python tools/tf_e2e.py --env dev [--keep] [--report build/tf-e2e/dev.json]

On a scratch copy of the checkout (test-only files are generated there, never in terraform/):
  1. start the pinned, extended moto server (its own virtualenv, loopback, a free port); create the
     state bucket and the JWT secret parameter, as a team does once before its first deploy;
  2. `make tf-init` (S3 backend in the local cloud, the environment's own key) -> `make plan` ->
     a saved plan made stale by another apply is refused -> zips that differ from the planned ones
     are refused -> `make apply`;
  3. read everything back with boto3 and compare with the manifest, the PynamoDB models, the tfvars
     and the outputs (tools/tf_e2e_checks.py);
  4. a second `make plan` must be empty;
  5. `make deploy-fn FN=send_message` with changed code (a new CodeSha256), then back;
  6. `make destroy` (prod: deletion protection turned off first, as docs/terraform.md says), and
     nothing named <name_prefix>-... is left in the cloud.
The server is stopped on every way out; the exit status is 0 (passed), 1 (a step failed: it is
named) or 3 (terraform or the provider is missing here: the reason is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "shared"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the manifest package
import tf_e2e_checks as checks  # noqa: E402
from local_cloud import ACCOUNT_ID, LocalCloud, LocalCloudError  # noqa: E402
from tf_toolchain import ToolchainMissing, resolve  # noqa: E402

from manifest import FILE_NAME as MANIFEST_FILE  # noqa: E402
from manifest import load_manifest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SKIPPED = 3
STATE_BUCKET = "wschat-tfstate-local"
# Terraform resource/data type prefix -> the provider `endpoints` key that serves it. A type missing
# here fails the run (instead of silently reaching for real AWS).
SERVICE_OF = {
    "aws_apigatewayv2_": "apigatewayv2", "aws_api_gateway_": "apigateway", "aws_cloudwatch_log_": "logs",
    "aws_cloudwatch_": "cloudwatch", "aws_dynamodb_": "dynamodb", "aws_iam_": "iam", "aws_kms_": "kms",
    "aws_lambda_": "lambda", "aws_sns_": "sns", "aws_sqs_": "sqs", "aws_ssm_": "ssm",
    "aws_cognito_": "cognitoidp", "aws_caller_identity": "sts",
}
LOCAL_ONLY = ("aws_partition", "aws_region", "aws_iam_policy_document")
COPIED_DIRS = ("functions", "shared", "terraform", "tools", "make", "requirements", "manifest")
COPIED_FILES = ("Makefile", MANIFEST_FILE, "pyproject.toml")


class StepFailed(Exception):
    pass


def log(message: str) -> None:
    print(f"tf-e2e: {message}", file=sys.stderr, flush=True)


# ---- the scratch copy ----------------------------------------------------------------------------

def scratch_copy(dest: Path) -> Path:
    """The checkout as it is (uncommitted work included, git-ignored outputs excluded) + the venv."""
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard", "-z"],  # noqa: S603,S607
                            check=False, capture_output=True)
    if listed.returncode == 0:
        names = [n for n in listed.stdout.decode().split("\0") if n]
        wanted = [n for n in names if n in COPIED_FILES or n.split("/", 1)[0] in COPIED_DIRS]
    else:  # not a git checkout (a source tarball): the same folders, minus generated files
        wanted = [str(p.relative_to(ROOT)) for d in COPIED_DIRS for p in (ROOT / d).rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and ".terraform" not in p.parts]
        wanted += [f for f in COPIED_FILES if (ROOT / f).is_file()]
    for name in wanted:
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the working tree is listed too
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    (dest / ".venv").symlink_to(ROOT / ".venv")
    stray = sorted(p.name for p in (dest / "terraform").glob("*override.tf*"))
    if stray:
        raise StepFailed(f"terraform/ holds override files that would load in real deploys: {stray}")
    return dest


def resource_types(terraform_dir: Path) -> set[str]:
    import hcl2

    found = set()
    for path in terraform_dir.rglob("*.tf"):
        if ".terraform" in path.parts:
            continue
        with path.open() as handle:
            parsed = hcl2.load(handle)
        for kind in ("resource", "data"):
            for block in parsed.get(kind, []):
                found |= {name.strip('"') for name in block}
    return found


def endpoint_services(terraform_dir: Path) -> list[str]:
    services, unknown = set(), []
    for rtype in sorted(resource_types(terraform_dir)):
        if rtype in LOCAL_ONLY:
            continue
        service = next((s for prefix, s in SERVICE_OF.items() if rtype.startswith(prefix)), None)
        if service is None:
            unknown.append(rtype)
        else:
            services.add(service)
    if unknown:
        raise StepFailed(f"tools/tf_e2e.py does not know which endpoint serves {unknown}: add them to SERVICE_OF")
    return sorted(services | {"sts"})


def write_local_cloud_files(scratch: Path, endpoint: str, provider_version: str | None) -> Path:
    """The test-only provider override (in the scratch copy's terraform/) and the backend config."""
    services = endpoint_services(scratch / "terraform")
    endpoints = "\n".join(f'    {service} = "{endpoint}"' for service in services)
    pin = ""
    if provider_version:
        pin = ('terraform {\n  required_providers {\n    aws = {\n      source  = "hashicorp/aws"\n'
               f'      version = "{provider_version}"\n    }}\n  }}\n}}\n\n')
    (scratch / "terraform" / "zz_local_cloud_override.tf").write_text(
        "# Generated by tools/tf_e2e.py in a scratch copy: every AWS call goes to the local cloud.\n" + pin +
        'provider "aws" {\n'
        '  access_key                  = "testing"\n'
        '  secret_key                  = "testing"\n'
        "  skip_credentials_validation = true\n"
        "  skip_metadata_api_check     = true\n"
        "  skip_region_validation      = true\n"
        f"  endpoints {{\n{endpoints}\n  }}\n}}\n"
    )
    backend = scratch / "build" / "tf-e2e" / "backend.hcl"
    backend.parent.mkdir(parents=True, exist_ok=True)
    backend.write_text(
        f'bucket = "{STATE_BUCKET}"\nregion = "{LocalCloud.region}"\nencrypt = true\nuse_lockfile = true\n'
        'access_key = "testing"\nsecret_key = "testing"\nuse_path_style = true\n'
        "skip_credentials_validation = true\nskip_region_validation = true\n"
        "skip_requesting_account_id = true\nskip_metadata_api_check = true\n"
        f'endpoints = {{\n  s3 = "{endpoint}"\n}}\n'
    )
    return backend


def _unquoted(value: Any) -> Any:
    """python-hcl2 keeps the quotes of string literals (map keys and values too): drop them."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, list):
        return [_unquoted(v) for v in value]
    if isinstance(value, dict):
        return {_unquoted(k): _unquoted(v) for k, v in value.items() if not str(k).startswith("__")}
    return value


def read_tfvars(path: Path) -> dict[str, Any]:
    import hcl2

    with path.open() as handle:
        return _unquoted(hcl2.load(handle))


# ---- the run -------------------------------------------------------------------------------------

class Run:
    def __init__(self, args: argparse.Namespace, scratch: Path, cloud: LocalCloud, terraform: str, tf_env: dict[str, str]):
        self.args, self.env_name, self.scratch, self.cloud = args, args.env, scratch, cloud
        self.make_env = {**os.environ, **tf_env, **cloud.env(), "AWS_EC2_METADATA_DISABLED": "true",
                         "TERRAFORM": terraform}
        for name in ("ENV", "NAME_PREFIX", "FN", "BACKEND_CONFIG", "MAKEFLAGS", "MFLAGS"):
            self.make_env.pop(name, None)
        self.timings: dict[str, float] = {}
        self.facts: dict[str, Any] = {"env": args.env}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        log(f"-- {name}")
        started = time.monotonic()
        try:
            yield
        except StepFailed as e:
            raise StepFailed(f"{name}: {e}") from e
        except Exception as e:  # noqa: BLE001 - any error (a check, boto3, a file) fails the named step
            raise StepFailed(f"{name}: {type(e).__name__}: {e}") from e
        finally:
            self.timings[name] = round(time.monotonic() - started, 1)

    def make(self, *args: str, expect_fail: bool = False, env: str | None = None) -> subprocess.CompletedProcess[str]:
        env = env or self.env_name
        cmd = ["make", "--no-print-directory", "-C", str(self.scratch), *args, f"ENV={env}"]
        log("$ " + " ".join(["make", *args, f"ENV={env}"]))
        done = subprocess.run(cmd, env=self.make_env, text=True, capture_output=True, check=False)  # noqa: S603
        if self.args.verbose or (done.returncode != 0 and not expect_fail):
            sys.stderr.write(done.stdout[-6000:] + done.stderr[-6000:])
        if expect_fail and done.returncode == 0:
            raise StepFailed(f"`make {' '.join(args)}` succeeded but must be refused")
        if not expect_fail and done.returncode != 0:
            raise StepFailed(f"`make {' '.join(args)}` failed (exit {done.returncode})")
        return done

    def build_zips(self) -> dict[str, bytes]:
        build = self.scratch / "build"
        zips = {p.stem: p.read_bytes() for p in (build / "functions").glob("*.zip")}
        zips["layer"] = (build / "layer.zip").read_bytes()
        return zips

    def outputs(self) -> dict[str, Any]:
        done = self.make("outputs", "OUTPUTS_FLAGS=--json")
        start = done.stdout.index("{")
        return {k: v["value"] for k, v in json.loads(done.stdout[start:]).items()}

    def plan_summary(self, env: str | None = None) -> dict[str, Any]:
        return json.loads((self.scratch / "build" / "terraform" / f"{env or self.env_name}.plan.json").read_text())

    def function_config(self, function: str) -> dict[str, Any]:
        return self.cloud.client("lambda").get_function_configuration(FunctionName=function)

    def stack(self, tfvars: dict[str, Any]) -> checks.Stack:
        return checks.Stack(load_manifest(self.scratch).raw, tfvars, self.outputs(),
                            self.cloud.region, ACCOUNT_ID, self.cloud.client)

    def run(self) -> dict[str, Any]:
        env, scratch = self.env_name, self.scratch
        tfvars_path = scratch / "terraform" / "envs" / f"{env}.tfvars"
        tfvars = read_tfvars(tfvars_path)
        backend = write_local_cloud_files(scratch, self.cloud.endpoint, self.args.provider_version)

        with self.step("prerequisites: state bucket and JWT secret in the local cloud"):
            self.cloud.client("s3").create_bucket(
                Bucket=STATE_BUCKET, CreateBucketConfiguration={"LocationConstraint": self.cloud.region})
            self.cloud.client("ssm").put_parameter(Name=tfvars["jwt_secret_parameter"], Type="SecureString",
                                                   Value="tf-e2e-" + os.urandom(16).hex())

        with self.step("account baseline: the API Gateway CloudWatch role, once per account and region"):
            self.make("account-baseline", f"BACKEND_CONFIG={backend}", "AUTO_APPROVE=1")
            role = self.cloud.client("apigateway").get_account().get("cloudwatchRoleArn", "")
            checks.expect(role.endswith(":role/apigateway-cloudwatch-logs"), f"account CloudWatch role set: {role!r}")

        with self.step("init"):
            self.make("tf-init", f"BACKEND_CONFIG={backend}")

        with self.step("plan"):
            self.make("plan")
            summary = self.plan_summary()
            checks.expect(summary["counts"]["delete"] == summary["counts"]["replace"] == 0,
                          f"a first plan destroys nothing: {summary['actions']}")
            self.facts["planned_resources"] = summary["counts"]["create"]
            plans = scratch / "build" / "terraform"
            stale = Path(tempfile.mkdtemp(prefix="stale-", dir=scratch / "build"))
            for suffix in (".tfplan", ".zips.json", ".plan.json"):
                shutil.copy2(plans / f"{env}{suffix}", stale / f"{env}{suffix}")

        with self.step("apply"):
            applied = self.make("apply")
            self.facts["apply_output"] = next((line for line in applied.stdout.splitlines()
                                               if line.startswith("Apply complete!")), "")

        with self.step("a saved plan made stale by another apply is refused"):
            for saved in stale.iterdir():
                shutil.copy2(saved, plans / saved.name)
            refused = self.make("apply-plan", expect_fail=True)
            checks.expect("is stale" in refused.stderr, f"the refusal says the plan is stale: {refused.stderr[-800:]}")

        with self.step("zips that differ from the planned ones are refused"):
            for saved in stale.iterdir():  # the zip check comes first: the plan's staleness does not matter
                shutil.copy2(saved, plans / saved.name)
            layer = scratch / "build" / "layer.zip"
            original = layer.read_bytes()
            layer.write_bytes(original + b"\0")
            refused = self.make("apply-plan", expect_fail=True)
            checks.expect("build/layer.zip" in refused.stderr and "differ" in refused.stderr,
                          f"the refusal names the zip: {refused.stderr[-800:]}")
            checks.expect("Saved plan is stale" not in refused.stderr, "terraform apply never ran")
            layer.write_bytes(original)

        with self.step("what exists equals the manifest, the models and the tfvars"):
            from chat.models import TABLE_MODELS

            stack = self.stack(tfvars)
            counted = {}
            counted.update(checks.check_api(stack))
            counted.update(checks.check_functions(stack, self.build_zips()))
            counted.update(checks.check_tables(stack, TABLE_MODELS))
            counted.update(checks.check_roles(stack))
            counted.update(checks.check_async(stack))
            counted.update(checks.check_dashboard(stack))
            counted.update(checks.check_custom_alarms(stack))
            self.facts["checked"] = counted

        with self.step("a second plan is empty"):
            self.make("plan", "PLAN_FLAGS=--expect-no-changes")

        # One direction is enough to show it (and saves a plan in prod's run): dev plans prod.
        if env == "dev" and (scratch / "terraform" / "envs" / "prod.tfvars").is_file():
            other = "prod"
            with self.step(f"ENV={other} gets its own state: planning it never touches {env}'s"):
                refused = self.make("plan", env=other, expect_fail=True)
                checks.expect(f"make tf-init ENV={other}" in refused.stderr,
                              f"an uninitialised ENV is refused: {refused.stderr[-600:]}")
                self.make("tf-init", f"BACKEND_CONFIG={backend}", env=other)
                self.make("plan", env=other)
                counts = self.plan_summary(other)["counts"]
                checks.expect(counts["update"] == counts["delete"] == counts["replace"] == 0 and counts["create"] > 0,
                              f"{other}'s first plan only creates (its own, empty state): {counts}")

        lam = self.cloud.client("lambda")
        function = f"{tfvars['name_prefix']}-send_message"
        planned = self.function_config(function)
        handler = scratch / "functions" / "send_message" / "handler.py"
        with self.step("deploy-fn with changed code: a new CodeSha256, reported as drift by the next plan"):
            source = handler.read_text()
            handler.write_text(source + f"\n# tf-e2e redeploy {time.time_ns()}\n")
            self.make("deploy-fn", "FN=send_message")
            changed = self.function_config(function)["CodeSha256"]
            rebuilt = (scratch / "build" / "functions" / "send_message.zip").read_bytes()
            checks.expect(changed != planned["CodeSha256"], "deploy-fn changed the function's code")
            checks.equal(changed, checks.code_sha256(rebuilt), "CodeSha256 after deploy-fn")
            handler.write_text(source)
            self.make("plan")  # rebuilds the original zip: what main would apply
            drift = self.plan_summary()["drift"]
            checks.expect(any(function in problem for found in drift for problem in found["problems"]),
                          f"the plan reports {function}'s code as drift: {drift}")
            self.facts["deploy_fn"] = {"planned": planned["CodeSha256"], "changed": changed}

        with self.step("deploy-fn back to the built code"):
            self.make("deploy-fn", "FN=send_message")
            checks.equal(self.function_config(function)["CodeSha256"], planned["CodeSha256"],
                         "CodeSha256 after deploying the original code back")

        shared_init = scratch / "shared" / "chat" / "__init__.py"
        with self.step("deploy-fn ships a changed shared layer to the function, and back"):
            source = shared_init.read_text()
            shared_init.write_text(source + f"\n# tf-e2e layer change {time.time_ns()}\n")
            self.make("deploy-fn", "FN=send_message")
            moved = self.function_config(function)
            layer_arn = moved["Layers"][0]["Arn"]
            checks.expect(layer_arn != planned["Layers"][0]["Arn"], "send_message uses a new layer version")
            name, version = layer_arn.split(":")[-2:]
            published = lam.get_layer_version(LayerName=name, VersionNumber=int(version))["Content"]["CodeSha256"]
            checks.equal(published, checks.code_sha256((scratch / "build" / "layer.zip").read_bytes()),
                         "the new layer version holds the changed build/layer.zip")
            checks.equal(moved["CodeSha256"], planned["CodeSha256"], "the function's own code is unchanged")
            shared_init.write_text(source)
            self.make("deploy-fn", "FN=send_message")
            checks.equal(self.function_config(function)["Layers"], planned["Layers"],
                         "send_message is back on Terraform's layer version")
            self.facts["deploy_fn"]["layer"] = layer_arn

        with self.step("after deploying back, a plan is empty again (no diff, no drift)"):
            self.make("plan", "PLAN_FLAGS=--expect-no-changes")

        if tfvars.get("deletion_protection", True):
            with self.step("turn deletion protection off (plan + apply), as docs/terraform.md says"):
                text, turned = re.subn(r"(?m)^(\s*deletion_protection\s*=\s*)true\b", r"\1false",
                                       tfvars_path.read_text())
                checks.expect(turned == 1, f"{tfvars_path.name} sets deletion_protection = true once")
                tfvars_path.write_text(text)
                self.make("plan")
                self.make("apply")

        with self.step("destroy"):
            destroyed = self.make("destroy", "AUTO_APPROVE=1")
            self.facts["destroy_output"] = next((line for line in destroyed.stdout.splitlines()
                                                 if line.startswith("Destroy complete!")), "")

        with self.step("nothing of ours is left"):
            left = checks.leftovers(self.cloud.client, tfvars["name_prefix"])
            checks.expect(not left, f"left behind after destroy: {left}")
        self.facts["timings_s"] = self.timings
        return self.facts


def _interrupted(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default=os.environ.get("ENV", "dev"))
    parser.add_argument("--terraform", default=os.environ.get("TERRAFORM", "terraform"))
    parser.add_argument("--provider-version", default=os.environ.get("TF_E2E_PROVIDER_VERSION"),
                        help="pin the AWS provider (e.g. '~> 6.0') in the scratch copy only")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copy (its path is printed)")
    parser.add_argument("--report", type=Path, help="write the figures as JSON (default build/tf-e2e/<env>.json)")
    parser.add_argument("--verbose", action="store_true", help="print every make step's output")
    args = parser.parse_args(argv)
    if not (ROOT / "terraform" / "envs" / f"{args.env}.tfvars").is_file():
        print(f"tf-e2e: no terraform/envs/{args.env}.tfvars", file=sys.stderr)
        return 1

    # SIGTERM (CI cancelling, a test's timeout) unwinds like Ctrl-C: the server and the scratch copy go.
    signal.signal(signal.SIGTERM, _interrupted)
    started = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix=f"tf-e2e-{args.env}-"))
    try:
        toolchain = resolve(args.terraform, build=scratch / "build")
        log(f"terraform {toolchain.terraform_version}, provider from {toolchain.provider_source}")
        scratch_copy(scratch)
        with LocalCloud.start() as cloud:
            log(f"local cloud {cloud.endpoint} (pid {cloud.process.pid}); scratch copy {scratch}")
            facts = Run(args, scratch, cloud, toolchain.terraform, toolchain.env).run()
    except ToolchainMissing as e:
        print(f"tf-e2e: SKIPPED: {e}", file=sys.stderr)
        return SKIPPED
    except (StepFailed, LocalCloudError) as e:
        print(f"tf-e2e: FAILED ({args.env}): {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"tf-e2e: interrupted ({args.env}); local cloud stopped", file=sys.stderr)
        return 130
    finally:
        if args.keep:
            log(f"scratch copy kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    facts["wall_s"] = round(time.monotonic() - started, 1)
    facts["provider"] = toolchain.provider_source
    facts["terraform"] = toolchain.terraform_version
    report = args.report or ROOT / "build" / "tf-e2e" / f"{args.env}.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps(facts, indent=2) + "\n")
    print(f"tf-e2e: PASSED ({args.env}) in {facts['wall_s']} s: {facts['planned_resources']} resources created and "
          f"destroyed; second plan empty; checked {facts['checked']}; report {report}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
