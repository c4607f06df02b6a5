"""Where Terraform and the AWS provider come from (shared by tools/tf.py and tools/tf_e2e.py).

The provider is taken from a local filesystem mirror when one exists, else from the registry:

- `TF_PROVIDER_MIRROR=<dir>`: a mirror root (the folder holding `registry.terraform.io/`);
- else an existing TF_CLI_CONFIG_FILE, used as it is (the caller's own provider_installation);
- else the first of MIRROR_CANDIDATES that holds `registry.terraform.io/hashicorp/aws/<version>/`;
- else the Terraform registry, if it can be reached.

With a mirror, a CLI configuration (`provider_installation { filesystem_mirror ... }`) is written to
build/terraform/terraformrc and every terraform call gets TF_CLI_CONFIG_FILE pointing at it.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROVIDER = "registry.terraform.io/hashicorp/aws"
MIRROR_CANDIDATES = (
    Path("/opt/tf-plugins"),
    Path.home() / ".terraform.d" / "plugins",
    Path.home() / ".local" / "share" / "terraform" / "plugins",
    Path("/usr/local/share/terraform/plugins"),
    Path("/usr/share/terraform/plugins"),
)
REGISTRY_HOST = "registry.terraform.io"


class ToolchainMissing(Exception):
    """Terraform or the AWS provider is not available here; the message says exactly what is missing."""


@dataclass(frozen=True)
class Toolchain:
    terraform: str
    terraform_version: str
    provider_source: str  # "mirror <root> (aws 5.100.0)" or "registry"
    env: dict[str, str] = field(default_factory=dict)  # extra environment of every terraform call

    def run_env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        return {**(os.environ if base is None else base), **self.env}


def platform_dir() -> str:
    machine = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), platform.machine())
    return f"{platform.system().lower()}_{machine}"


def mirror_versions(root: Path) -> list[str]:
    """AWS provider versions a mirror root holds for this platform (unpacked or packed layout)."""
    base = root / PROVIDER
    if not base.is_dir():
        return []
    found = []
    for version_dir in sorted(p for p in base.iterdir() if p.is_dir()):
        if (version_dir / platform_dir()).is_dir():
            found.append(version_dir.name)
    found += sorted(p.name.split("_")[1] for p in base.glob(f"terraform-provider-aws_*_{platform_dir()}.zip"))
    return found


def find_mirror() -> Path | None:
    given = os.environ.get("TF_PROVIDER_MIRROR")
    if given:
        root = Path(given)
        if not mirror_versions(root):
            raise ToolchainMissing(
                f"TF_PROVIDER_MIRROR={given} holds no {PROVIDER} provider for {platform_dir()} "
                f"(expected {given}/{PROVIDER}/<version>/{platform_dir()}/)"
            )
        return root
    return next((root for root in MIRROR_CANDIDATES if mirror_versions(root)), None)


def registry_reachable(timeout: float = 3.0) -> bool:
    try:
        socket.create_connection((REGISTRY_HOST, 443), timeout=timeout).close()
    except OSError:
        return False
    return True


def write_cli_config(mirror: Path, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Written by tools/tf_toolchain.py: the AWS provider from a local mirror, everything else direct.\n"
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f'    path    = "{mirror}"\n'
        f'    include = ["{PROVIDER}"]\n'
        "  }\n"
        "  direct {\n"
        f'    exclude = ["{PROVIDER}"]\n'
        "  }\n"
        "}\n"
    )
    return path


def terraform_version(binary: str) -> str:
    done = subprocess.run([binary, "version"], check=False, capture_output=True, text=True)  # noqa: S603
    first = (done.stdout or done.stderr).splitlines()[:1]
    return first[0].removeprefix("Terraform ").strip() if first else "unknown"


def resolve(binary: str = "terraform", *, build: Path | None = None, need_provider: bool = True) -> Toolchain:
    """The terraform binary and the provider source, or ToolchainMissing saying what is missing."""
    found = shutil.which(binary)
    if found is None:
        raise ToolchainMissing(
            f"terraform not found (`{binary}` is not an executable on PATH): install Terraform >= 1.10 "
            "or set TERRAFORM=/path/to/terraform"
        )
    version = terraform_version(found)
    if not need_provider:
        return Toolchain(found, version, "not needed")
    configured = os.environ.get("TF_CLI_CONFIG_FILE")
    if not os.environ.get("TF_PROVIDER_MIRROR") and configured and Path(configured).is_file():
        return Toolchain(found, version, f"CLI configuration {configured}")
    mirror = find_mirror()
    if mirror is not None:
        config = write_cli_config(mirror, (build or ROOT / "build") / "terraform" / "terraformrc")
        versions = ", ".join(mirror_versions(mirror))
        return Toolchain(found, version, f"mirror {mirror} (aws {versions})", {"TF_CLI_CONFIG_FILE": str(config)})
    # A TF_CLI_CONFIG_FILE naming a missing file makes every terraform call warn: use none instead.
    env = {"TF_CLI_CONFIG_FILE": os.devnull} if configured else {}
    if not registry_reachable():
        raise ToolchainMissing(
            f"the hashicorp/aws provider is not available: no local mirror (looked in TF_PROVIDER_MIRROR and "
            f"{', '.join(str(p) for p in MIRROR_CANDIDATES)}) and {REGISTRY_HOST} cannot be reached"
        )
    return Toolchain(found, version, "registry", env)
