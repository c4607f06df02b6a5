#!/usr/bin/env python3
"""Terraform deploy flow (what `make plan/apply/destroy/outputs` run; works without make).

    python tools/tf.py init --backend-config terraform/backend.hcl
    python tools/tf.py plan --env dev        # needs build/ (make build); writes the saved plan
    python tools/tf.py apply --env dev       # applies exactly that saved plan
    python tools/tf.py outputs
    python tools/tf.py destroy --env dev

The saved plan lives in build/terraform/<env>.tfplan, next to <env>.zips.json: the SHA-256 of every
zip the plan was made from. `apply` refuses to run when a zip differs from what was planned
(Terraform would upload bytes whose hash the plan never saw), so a plan made in one CI job can be
applied in another with the downloaded zips and no rebuild. Needs a real `terraform` (TERRAFORM
or --terraform) and AWS credentials; the provider-free checks are tools/tf_static.py.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the manifest package, when run as `python tools/tf.py`
from manifest import load_manifest  # noqa: E402

TF_DIR = ROOT / "terraform"
BUILD = ROOT / "build"
PLANS = BUILD / "terraform"


class FlowError(Exception):
    pass


def plan_file(env: str) -> Path:
    return PLANS / f"{env}.tfplan"


def zips_file(env: str) -> Path:
    return PLANS / f"{env}.zips.json"


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
    functions = load_manifest(ROOT).functions
    return [build / "layer.zip", *(build / "functions" / f"{name}.zip" for name in sorted(functions))]


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


def terraform(binary: str, *args: str, capture: bool = False) -> str:
    if shutil.which(binary) is None:
        raise FlowError(f"`{binary}` not found: install Terraform >= 1.10 or set TERRAFORM=/path/to/terraform")
    cmd = [binary, f"-chdir={TF_DIR}", *args]
    print("+", " ".join(cmd), file=sys.stderr)
    done = subprocess.run(cmd, check=False, text=True, stdout=subprocess.PIPE if capture else None)  # noqa: S603
    if done.returncode != 0:
        raise FlowError(f"terraform {args[0]} failed (exit {done.returncode})")
    return done.stdout or ""


def cmd_init(args: argparse.Namespace) -> None:
    extra = [f"-backend-config={Path(args.backend_config).resolve()}"] if args.backend_config else []
    terraform(args.terraform, "init", "-input=false", *extra)


def cmd_validate(args: argparse.Namespace) -> None:
    terraform(args.terraform, "init", "-input=false", "-backend=false")
    terraform(args.terraform, "validate")


def cmd_plan(args: argparse.Namespace) -> None:
    hashes = zip_hashes()
    PLANS.mkdir(parents=True, exist_ok=True)
    out = plan_file(args.env)
    terraform(args.terraform, "plan", "-input=false", f"-var-file={var_file(args.env)}", f"-out={out}")
    zips_file(args.env).write_text(json.dumps(hashes, indent=2, sort_keys=True) + "\n")
    print(f"saved plan: {_shown(out)} (zips recorded in {_shown(zips_file(args.env))})")


def cmd_summary(args: argparse.Namespace) -> None:
    out = plan_file(args.env)
    if not out.is_file():
        raise FlowError(f"no saved plan {_shown(out)}: run `make plan ENV={args.env}`")
    text = terraform(args.terraform, "show", "-no-color", str(out), capture=True)
    summary = out.with_suffix(".plan.txt")
    summary.write_text(text)
    print(f"plan summary: {_shown(summary)}")


def cmd_apply(args: argparse.Namespace) -> None:
    out, recorded = plan_file(args.env), zips_file(args.env)
    if not out.is_file() or not recorded.is_file():
        raise FlowError(f"no saved plan for {args.env}: run `make plan ENV={args.env}` first")
    check_zips_match(json.loads(recorded.read_text()))
    terraform(args.terraform, "apply", "-input=false", str(out))
    out.unlink()  # a saved plan applies once; Terraform would reject it as stale anyway


def cmd_destroy(args: argparse.Namespace) -> None:
    extra = ["-auto-approve"] if args.auto_approve else []
    terraform(args.terraform, "destroy", "-input=false", f"-var-file={var_file(args.env)}", *extra)


def cmd_outputs(args: argparse.Namespace) -> None:
    terraform(args.terraform, "output", *(["-json"] if args.json else []))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--terraform", default=os.environ.get("TERRAFORM", "terraform"))
    parser.add_argument("--env", default=os.environ.get("ENV", "dev"), help="terraform/envs/<env>.tfvars")
    sub = parser.add_subparsers(dest="command", required=True)
    init = sub.add_parser("init", help="terraform init with the S3 backend (partial configuration)")
    init.add_argument("--backend-config", help="backend.hcl (see terraform/backend.hcl.example)")
    sub.add_parser("validate", help="init -backend=false + validate")
    sub.add_parser("plan", help="plan -out build/terraform/<env>.tfplan and record the zips' hashes")
    sub.add_parser("summary", help="write the saved plan as text (for the PR comment)")
    sub.add_parser("apply", help="apply the saved plan, after checking the zips are the planned ones")
    destroy = sub.add_parser("destroy", help="destroy the environment")
    destroy.add_argument("--auto-approve", action="store_true")
    outputs = sub.add_parser("outputs", help="terraform output")
    outputs.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    commands = {"init": cmd_init, "validate": cmd_validate, "plan": cmd_plan, "summary": cmd_summary,
                "apply": cmd_apply, "destroy": cmd_destroy, "outputs": cmd_outputs}
    try:
        commands[args.command](args)
    except FlowError as e:
        print(f"tf: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
