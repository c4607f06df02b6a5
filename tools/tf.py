#!/usr/bin/env python3
"""Terraform deploy flow (what `make tf-init/plan/apply/destroy/outputs/tf-validate` run; works without make).

    python tools/tf.py --env dev init --backend-config terraform/backend.hcl
    python tools/tf.py --env dev plan        # needs build/ (make build); writes the saved plan
    python tools/tf.py --env dev apply       # applies exactly that saved plan
    python tools/tf.py --env dev outputs
    python tools/tf.py --env dev destroy
    python tools/tf.py validate              # init -backend=false + validate, real provider

One state per environment. Each ENV has its own Terraform data directory
(terraform/.terraform/envs/<env>) and its own state key (<service>/<env>/terraform.tfstate, set by
`init`; backend.hcl names the bucket, not the key), and plan/apply/destroy/outputs refuse to run when
the state initialised for that ENV is not that ENV's: `make plan ENV=prod` can never plan prod's
values against dev's state.

The saved plan lives in build/terraform/<env>.tfplan, next to <env>.zips.json (the SHA-256 of every zip
the plan was made from) and <env>.plan.json (what the plan would do). `apply` refuses when a zip
differs from what was planned, and says so plainly when Terraform rejects the plan as stale.

The provider comes from a local mirror when there is one, else the registry (tools/tf_toolchain.py).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tf_toolchain import Toolchain, ToolchainMissing, resolve  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the manifest package, when run as `python tools/tf.py`
from manifest import Manifest, load_manifest  # noqa: E402

TF_DIR = ROOT / "terraform"
BASELINE = "account-baseline"  # the one-time per-account root (terraform/account-baseline)
BUILD = ROOT / "build"
PLANS = BUILD / "terraform"
STATEFUL_TYPES = ("aws_dynamodb_table",)  # destroying one loses data: plans name them loudly


class FlowError(Exception):
    pass


def manifest() -> Manifest:
    return load_manifest(ROOT)


def plan_file(env: str) -> Path:
    return PLANS / f"{env}.tfplan"


def zips_file(env: str) -> Path:
    return PLANS / f"{env}.zips.json"


def summary_file(env: str) -> Path:
    return PLANS / f"{env}.plan.json"


def data_dir(env: str) -> str:
    """TF_DATA_DIR of an environment, relative to terraform/ (inside the git-ignored .terraform/)."""
    return f".terraform/envs/{env}"


def state_key(env: str) -> str:
    return f"{manifest().service}/{env}/terraform.tfstate"


def var_file(env: str) -> Path:
    path = TF_DIR / "envs" / f"{env}.tfvars"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in (TF_DIR / "envs").glob("*.tfvars")))
        raise FlowError(f"no terraform/envs/{env}.tfvars (environments: {known})")
    return path


def _shown(path: Path) -> Path:
    try:
        return path.relative_to(ROOT)
    except ValueError:
        return path


def expected_zips(build: Path) -> list[Path]:
    """Every zip Terraform may read: the functions, the layer, and the crypto layer(s) that were built
    (build/crypto-layer-<architecture>.zip; Terraform reads the one of lambda_architecture in oidc mode)."""
    return [build / "layer.zip", *(build / "functions" / f"{name}.zip" for name in sorted(manifest().functions)),
            *sorted(build.glob("crypto-layer-*.zip"))]


def zip_hashes(build: Path | None = None) -> dict[str, str]:
    """Relative path -> sha256 of every zip Terraform reads; fails naming any missing one."""
    build = build or BUILD
    paths = expected_zips(build)
    missing = [str(p.relative_to(build.parent)) for p in paths if not p.is_file()]
    if missing:
        raise FlowError(f"missing build outputs (run `make build`): {', '.join(missing)}")
    return {str(p.relative_to(build.parent)): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def check_zips_match(recorded: dict[str, str], build: Path | None = None) -> None:
    current = zip_hashes(build)
    changed = sorted(k for k in recorded.keys() | current.keys() if recorded.get(k) != current.get(k))
    if changed:
        raise FlowError(
            "these zips differ from the ones the saved plan was made from: "
            + ", ".join(changed)
            + " (re-run `make plan`, or download the plan job's zip artifacts)"
        )


class Terraform:
    """Runs terraform in terraform/ with the environment's data directory and the provider source."""

    def __init__(self, binary: str, env: str | None, *, need_provider: bool = True):
        try:
            self.toolchain: Toolchain = resolve(binary, build=BUILD, need_provider=need_provider)
        except ToolchainMissing as e:
            raise FlowError(str(e)) from None
        self.env = env

    def __call__(self, *args: str, capture: bool = False, capture_stderr: bool = False,
                 ok: tuple[int, ...] = (0,), data_dir_override: str | None = None,
                 chdir: Path | None = None) -> subprocess.CompletedProcess[str]:
        cmd = [self.toolchain.terraform, f"-chdir={chdir or TF_DIR}", *args]
        run_env = self.toolchain.run_env()
        chosen = data_dir_override or (data_dir(self.env) if self.env else None)
        if chosen:
            run_env["TF_DATA_DIR"] = chosen
        print("+", " ".join(cmd), file=sys.stderr)
        done = subprocess.run(cmd, check=False, text=True, env=run_env,  # noqa: S603
                              stdout=subprocess.PIPE if capture else None,
                              stderr=subprocess.PIPE if capture or capture_stderr else None)
        if done.returncode not in ok:
            if capture or capture_stderr:
                sys.stderr.write(done.stderr or "")
            raise FlowError(f"terraform {args[0]} failed (exit {done.returncode})")
        return done


def initialised_backend(env: str) -> dict[str, Any] | None:
    """The backend `terraform init` recorded in the environment's data directory, or None."""
    marker = TF_DIR / data_dir(env) / "terraform.tfstate"
    if not marker.is_file():
        return None
    return json.loads(marker.read_text()).get("backend")


def check_state_belongs_to(env: str) -> None:
    """Refuses to go on unless the state initialised for ENV is ENV's own."""
    backend = initialised_backend(env)
    if backend is None:
        raise FlowError(
            f"ENV={env} is not initialised: run `make tf-init ENV={env}` "
            f"(it gives {env} its own state, {state_key(env)})"
        )
    config = backend.get("config") or {}
    where = config.get("key") if backend.get("type") == "s3" else config.get("path")
    expected = state_key(env)
    if backend.get("type") == "s3" and where != expected:
        raise FlowError(
            f"the state initialised for ENV={env} is {where!r}, not {env}'s {expected!r}: "
            f"refusing to plan {env}'s values against another environment's state. "
            f"Run `make tf-init ENV={env}`."
        )
    if backend.get("type") not in ("s3",):
        raise FlowError(f"ENV={env} is initialised with a {backend.get('type')!r} backend: tools/tf.py "
                        "manages the s3 backend only (see terraform/backend.hcl.example)")


def backend_config(path: str, env: str) -> Path:
    config = Path(path).resolve()
    if not config.is_file():
        raise FlowError(f"no backend configuration {path}: copy terraform/backend.hcl.example "
                        "to terraform/backend.hcl and fill in the bucket and region")
    if re.search(r"(?m)^\s*key\s*=", config.read_text()):
        raise FlowError(f"{path} sets `key`: remove it, `make tf-init ENV=...` gives every "
                        f"environment its own key ({state_key(env)} for {env})")
    return config


def env_region(env: str) -> str:
    found = re.search(r'(?m)^\s*region\s*=\s*"([^"]+)"', var_file(env).read_text())
    if not found:
        raise FlowError(f"terraform/envs/{env}.tfvars sets no region: give --region")
    return found.group(1)


def cmd_init(args: argparse.Namespace) -> None:
    config = backend_config(args.backend_config, args.env)
    tf = Terraform(args.terraform, args.env)
    tf("init", "-input=false", "-reconfigure", f"-backend-config={config}",
       f"-backend-config=key={state_key(args.env)}")
    print(f"initialised ENV={args.env}: state {state_key(args.env)}, data dir terraform/{data_dir(args.env)}")


def cmd_baseline(args: argparse.Namespace) -> None:
    """The one-time account baseline (terraform/account-baseline) of a region: its own state key."""
    region = args.region or os.environ.get("REGION") or env_region(args.env)
    if not re.fullmatch(r"[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]", region):
        raise FlowError(f"{region!r} is not an AWS region name such as eu-west-1")
    config = backend_config(args.backend_config, args.env)
    key = f"{manifest().service}/account-baseline/{region}/terraform.tfstate"
    tf = Terraform(args.terraform, None)
    where = {"data_dir_override": f".terraform/baseline-{region}", "chdir": TF_DIR / BASELINE}
    tf("init", "-input=false", "-reconfigure", f"-backend-config={config}", f"-backend-config=key={key}", **where)
    tf("apply", "-input=false", f"-var=region={region}", *(["-auto-approve"] if args.auto_approve else []), **where)
    print(f"account baseline of {region} applied (state {key}): stage logging works for every stack there")


def cmd_validate(args: argparse.Namespace) -> None:
    """Both roots: the stack (terraform/) and the one-time account baseline (terraform/account-baseline)."""
    tf = Terraform(args.terraform, None)
    print(f"terraform {tf.toolchain.terraform_version}, provider from {tf.toolchain.provider_source}")
    for root in (TF_DIR, TF_DIR / BASELINE):
        tf("init", "-input=false", "-backend=false", data_dir_override=".terraform/validate", chdir=root)
        tf("validate", data_dir_override=".terraform/validate", chdir=root)


def summarise(tf: Terraform, plan: Path) -> dict[str, Any]:
    """What a saved plan would do, from `terraform show -json` (counts and the addresses per action)."""
    shown = json.loads(tf("show", "-json", str(plan), capture=True).stdout)
    actions: dict[str, list[str]] = {"create": [], "update": [], "delete": [], "replace": []}
    for change in shown.get("resource_changes", []):
        kind = change["change"]["actions"]
        if kind == ["no-op"] or kind == ["read"]:
            continue
        key = "replace" if set(kind) == {"create", "delete"} else kind[0]
        actions[key].append(change["address"])
    stateful_lost = sorted(
        address for address in actions["delete"] + actions["replace"]
        if any(f".{kind}." in f".{address}" for kind in STATEFUL_TYPES)
    )
    outputs_change = any(c["actions"] != ["no-op"] for c in shown.get("output_changes", {}).values())
    # check blocks (e.g. functions' deployed_code_is_the_build) that failed against the refreshed state:
    # drift a plan cannot show as a diff, such as code pushed by deploy-fn.
    drift = [
        {"check": check["address"].get("to_display", check["address"].get("name", "?")),
         "problems": [problem["message"] for instance in check.get("instances", [])
                      for problem in instance.get("problems", [])]}
        for check in shown.get("checks", []) if check.get("status") == "fail"
    ]
    return {
        "state_key": None,
        "has_changes": any(actions.values()) or outputs_change,
        "counts": {k: len(v) for k, v in actions.items()},
        "actions": actions,
        "stateful_resources_lost": stateful_lost,
        "drift": drift,
    }


def cmd_plan(args: argparse.Namespace) -> None:
    check_state_belongs_to(args.env)
    hashes = zip_hashes()
    PLANS.mkdir(parents=True, exist_ok=True)
    out = plan_file(args.env)
    tf = Terraform(args.terraform, args.env)
    lock = ["-lock=false"] if args.no_lock else []
    tf("plan", "-input=false", f"-var-file={var_file(args.env)}", f"-out={out}", *lock)
    zips_file(args.env).write_text(json.dumps(hashes, indent=2, sort_keys=True) + "\n")
    summary = summarise(tf, out)
    summary["state_key"] = state_key(args.env)
    summary_file(args.env).write_text(json.dumps(summary, indent=2) + "\n")
    counts = summary["counts"]
    print(f"saved plan: {_shown(out)} ({counts['create']} to add, {counts['update']} to change, "
          f"{counts['replace']} to replace, {counts['delete']} to destroy; summary {_shown(summary_file(args.env))})")
    if summary["stateful_resources_lost"]:
        print("WARNING: this plan destroys or replaces tables (their data is lost): "
              + ", ".join(summary["stateful_resources_lost"]), file=sys.stderr)
    for found in summary["drift"]:
        print(f"DRIFT ({found['check']}): " + " ".join(found["problems"]), file=sys.stderr)
    if args.expect_no_changes and (summary["has_changes"] or summary["drift"]):
        changed = [f"{kind}: {address}" for kind, addresses in summary["actions"].items() for address in addresses]
        changed += [f"drift: {found['check']}" for found in summary["drift"]]
        raise FlowError(f"ENV={args.env} has drifted from the configuration (expected no changes): "
                        + ("; ".join(changed) or "output values change"))


def cmd_summary(args: argparse.Namespace) -> None:
    out = plan_file(args.env)
    if not out.is_file():
        raise FlowError(f"no saved plan {_shown(out)}: run `make plan ENV={args.env}`")
    tf = Terraform(args.terraform, args.env)
    text = tf("show", "-no-color", str(out), capture=True).stdout
    summary = out.with_suffix(".plan.txt")
    summary.write_text(text)
    print(f"plan summary: {_shown(summary)}")


STALE = re.compile(r"Saved plan is stale|plan file was created .* state has changed", re.I)


def cmd_apply(args: argparse.Namespace) -> None:
    check_state_belongs_to(args.env)
    out, recorded, summary = plan_file(args.env), zips_file(args.env), summary_file(args.env)
    if not out.is_file() or not recorded.is_file():
        raise FlowError(f"no saved plan for {args.env}: run `make plan ENV={args.env}` first")
    if summary.is_file() and json.loads(summary.read_text()).get("state_key") not in (None, state_key(args.env)):
        raise FlowError(f"{_shown(out)} was planned against another state: run `make plan ENV={args.env}`")
    check_zips_match(json.loads(recorded.read_text()))
    tf = Terraform(args.terraform, args.env)
    done = tf("apply", "-input=false", str(out), capture_stderr=True, ok=(0, 1))
    if done.returncode != 0:
        sys.stderr.write(done.stderr or "")
        if STALE.search(done.stderr or ""):
            out.unlink()
            raise FlowError(f"the saved plan for {args.env} is stale: the state changed after `make plan` "
                            f"(another apply ran). Nothing was applied. Run `make plan ENV={args.env}` again.")
        raise FlowError(f"terraform apply failed (exit {done.returncode})")
    out.unlink()  # a saved plan applies once; Terraform would reject it as stale anyway


def cmd_destroy(args: argparse.Namespace) -> None:
    check_state_belongs_to(args.env)
    extra = ["-auto-approve"] if args.auto_approve else []
    Terraform(args.terraform, args.env)("destroy", "-input=false", f"-var-file={var_file(args.env)}", *extra)


def cmd_outputs(args: argparse.Namespace) -> None:
    check_state_belongs_to(args.env)
    Terraform(args.terraform, args.env)("output", *(["-json"] if args.json else []))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--terraform", default=os.environ.get("TERRAFORM", "terraform"))
    parser.add_argument("--env", default=os.environ.get("ENV", "dev"), help="terraform/envs/<env>.tfvars")
    sub = parser.add_subparsers(dest="command", required=True)
    init = sub.add_parser("init", help="terraform init for ENV: its own data dir and state key, -reconfigure")
    init.add_argument("--backend-config", default="terraform/backend.hcl",
                      help="bucket, region, ... (no key; see terraform/backend.hcl.example)")
    sub.add_parser("validate", help="init -backend=false + validate with the real provider")
    baseline = sub.add_parser("baseline", help="apply terraform/account-baseline once per account and region")
    baseline.add_argument("--region", help="default: REGION, else the region of terraform/envs/<env>.tfvars")
    baseline.add_argument("--backend-config", default="terraform/backend.hcl")
    baseline.add_argument("--auto-approve", action="store_true")
    plan = sub.add_parser("plan", help="plan -out build/terraform/<env>.tfplan, record the zips, summarise")
    plan.add_argument("--no-lock", action="store_true", help="do not take the state lock (read-only PR plans)")
    plan.add_argument("--expect-no-changes", action="store_true", help="fail if the plan changes anything")
    sub.add_parser("summary", help="write the saved plan as text (for the PR comment)")
    sub.add_parser("apply", help="apply the saved plan, after checking the zips are the planned ones")
    destroy = sub.add_parser("destroy", help="destroy the environment")
    destroy.add_argument("--auto-approve", action="store_true")
    outputs = sub.add_parser("outputs", help="terraform output")
    outputs.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    commands = {"init": cmd_init, "validate": cmd_validate, "baseline": cmd_baseline, "plan": cmd_plan, "summary": cmd_summary,
                "apply": cmd_apply, "destroy": cmd_destroy, "outputs": cmd_outputs}
    try:
        commands[args.command](args)
    except FlowError as e:
        print(f"tf: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
