#!/usr/bin/env python3
"""Deterministic packaging: build/functions/<name>.zip (handler code only) for every manifest
function, build/layer.zip (python/chat + the pure-Python wheels of requirements/layer.txt), and
build/crypto-layer-<architecture>.zip: the compiled wheels of requirements/crypto-layer.txt
(cryptography + cffi, for the authorizer's oidc mode) for Lambda's python3.12 on that architecture.

Same inputs -> byte-identical zips on any machine: entries sorted, timestamps fixed to
1980-01-01, permissions fixed (0644 files, 0755 dirs), no __pycache__, fixed compression level.
Wheels are unpacked by this script (not pip-installed) so no installer metadata varies. The
compiled wheels are the manylinux2014 ones of the target architecture, checked against the sha256
pins of requirements/crypto-layer.txt (pip --require-hashes, and again on every cached wheel).

    python tools/build.py                          # everything (crypto layer for arm64), sizes
    python tools/build.py --architecture x86_64    # ... for x86_64 functions (LAMBDA_ARCHITECTURE)
    python tools/build.py --function send_message
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the manifest package, when run as `python tools/build.py`
from manifest import Manifest, ManifestError, load_manifest  # noqa: E402

BUILD = ROOT / "build"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
SKIP_PARTS = {"__pycache__", ".pytest_cache"}
SKIP_SUFFIXES = {".pyc", ".pyo"}
# Lambda architecture -> the manylinux2014 platform tag of its wheels and the ELF e_machine of its code
ARCHITECTURES = {"arm64": ("manylinux2014_aarch64", 183), "x86_64": ("manylinux2014_x86_64", 62)}
LAMBDA_PYTHON = "3.12"


def _entry(name: str, is_dir: bool = False) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name + ("/" if is_dir and not name.endswith("/") else ""), date_time=FIXED_TIME)
    info.create_system = 3  # unix, so external_attr permissions are honoured everywhere
    info.external_attr = ((0o40755 if is_dir else 0o100644) << 16) | (0x10 if is_dir else 0)
    info.compress_type = zipfile.ZIP_STORED if is_dir else zipfile.ZIP_DEFLATED
    return info


def write_zip(target: Path, files: dict[str, bytes]) -> str:
    """Writes ``files`` (archive name -> content) deterministically; returns the sha256."""
    dirs = set()
    for name in files:
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w") as archive:
        for name in sorted(dirs | set(files)):
            if name in files:
                archive.writestr(_entry(name), files[name], compresslevel=9)
            else:
                archive.writestr(_entry(name, is_dir=True), b"")
    tmp.replace(target)
    return hashlib.sha256(target.read_bytes()).hexdigest()


def tree_files(source: Path, prefix: str = "") -> dict[str, bytes]:
    files = {}
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if path.is_dir() or SKIP_PARTS & set(rel.parts) or path.suffix in SKIP_SUFFIXES:
            continue
        files[prefix + rel.as_posix()] = path.read_bytes()
    return files


def function_files(name: str, manifest: Manifest | None = None) -> dict[str, bytes]:
    fn = (manifest or load_manifest(ROOT)).functions[name]
    source = ROOT / "functions" / name
    if not (source / fn.handler_file).is_file():
        raise SystemExit(f"build: functions/{name}/{fn.handler_file} is missing (manifest names function {name!r})")
    return tree_files(source)


def build_function(name: str, manifest: Manifest | None = None) -> tuple[Path, str]:
    target = BUILD / "functions" / f"{name}.zip"
    return target, write_zip(target, function_files(name, manifest))


def layer_requirements() -> list[str]:
    lines = (ROOT / "requirements" / "layer.txt").read_text().splitlines()
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]


def fetch_wheels(requirements: list[str]) -> list[Path]:
    """Pinned, pure-Python wheels, downloaded once into build/wheels (a cache)."""
    cache = BUILD / "wheels"
    cache.mkdir(parents=True, exist_ok=True)
    for req in requirements:
        if "==" not in req:
            raise SystemExit(f"build: requirements/layer.txt must pin exact versions, got {req!r}")
    wanted = {_wheel_key(req) for req in requirements}
    have = {_wheel_key_of(p): p for p in cache.glob("*.whl")}
    if not wanted <= have.keys():
        subprocess.run(  # noqa: S603 (fixed argv; pinned requirement strings)
            [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
             "--only-binary=:all:", "--python-version", "3.12", "--implementation", "py", "--abi", "none",
             "--platform", "any", "--dest", str(cache), *requirements],
            check=True,
        )
        have = {_wheel_key_of(p): p for p in cache.glob("*.whl")}
    missing = wanted - have.keys()
    if missing:
        raise SystemExit(f"build: could not get pure-Python wheels for {sorted(missing)}")
    return [have[key] for key in sorted(wanted)]


def _wheel_key(requirement: str) -> tuple[str, str]:
    name, version = requirement.split("==")
    return name.strip().lower().replace("-", "_"), version.strip()


def _wheel_key_of(wheel: Path) -> tuple[str, str]:
    name, version = wheel.name.split("-")[:2]
    return name.lower().replace("-", "_"), version


def wheel_files(wheels: list[Path]) -> dict[str, bytes]:
    """Every file of the wheels, under python/ (what Lambda puts on sys.path from /opt/python)."""
    files = {}
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            for name in archive.namelist():
                if name.endswith("/") or Path(name).suffix in SKIP_SUFFIXES:
                    continue
                files["python/" + name] = archive.read(name)
    return files


def layer_files() -> dict[str, bytes]:
    files = tree_files(ROOT / "shared" / "chat", prefix="python/chat/")
    files.update(wheel_files(fetch_wheels(layer_requirements())))
    return files


def crypto_requirements() -> dict[tuple[str, str], set[str]]:
    """(name, version) -> the allowed sha256 of its wheels, from requirements/crypto-layer.txt."""
    text = (ROOT / "requirements" / "crypto-layer.txt").read_text().replace("\\\n", " ")
    pins: dict[tuple[str, str], set[str]] = {}
    for line in text.splitlines():
        words = line.split("#")[0].split() if not line.lstrip().startswith("#") else []
        if not words:
            continue
        if "==" not in words[0]:
            raise SystemExit(f"build: requirements/crypto-layer.txt must pin exact versions, got {words[0]!r}")
        hashes = {w.removeprefix("--hash=sha256:") for w in words[1:] if w.startswith("--hash=sha256:")}
        if not hashes:
            raise SystemExit(f"build: requirements/crypto-layer.txt: {words[0]} has no --hash=sha256:")
        pins[_wheel_key(words[0])] = hashes
    return pins


def fetch_platform_wheels(architecture: str) -> list[Path]:
    """The crypto layer's wheels for ``architecture``, downloaded once into build/wheels/<arch>."""
    platform, _ = ARCHITECTURES[architecture]
    pins = crypto_requirements()
    cache = BUILD / "wheels" / architecture
    cache.mkdir(parents=True, exist_ok=True)

    def usable() -> dict[tuple[str, str], Path]:
        found = {}
        for wheel in cache.glob("*.whl"):
            key = _wheel_key_of(wheel)
            tags = wheel.stem.split("-")[-1].split(".")
            if key in pins and (platform in tags or tags == ["any"]) \
                    and hashlib.sha256(wheel.read_bytes()).hexdigest() in pins[key]:
                found[key] = wheel
        return found

    have = usable()
    if not pins.keys() <= have.keys():
        subprocess.run(  # noqa: S603 (fixed argv; pinned, hash-checked requirements)
            [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
             "--require-hashes", "--only-binary=:all:", "--python-version", LAMBDA_PYTHON, "--implementation",
             "cp", "--abi", "cp" + LAMBDA_PYTHON.replace(".", ""), "--abi", "abi3", "--abi", "none",
             "--platform", platform, "--platform", "any", "--dest", str(cache),
             "-r", str(ROOT / "requirements" / "crypto-layer.txt")],
            check=True,
        )
        have = usable()
    missing = pins.keys() - have.keys()
    if missing:
        raise SystemExit(f"build: no {platform} wheels matching the pinned hashes for {sorted(missing)}")
    return [have[key] for key in sorted(pins)]


def crypto_layer_path(architecture: str) -> Path:
    return BUILD / f"crypto-layer-{architecture}.zip"


def build_crypto_layer(architecture: str) -> tuple[Path, str]:
    """Reuses the zip when it was built from the same (hash-pinned) wheels by this same script: the
    output is a pure function of those, and recompressing ~15 MB costs seconds on every build."""
    target = crypto_layer_path(architecture)
    wheels = fetch_platform_wheels(architecture)
    inputs = hashlib.sha256(Path(__file__).read_bytes())
    for wheel in wheels:
        inputs.update(wheel.name.encode() + hashlib.sha256(wheel.read_bytes()).digest())
    stamp = target.with_suffix(".inputs")
    if target.is_file() and stamp.is_file():
        digest = hashlib.sha256(target.read_bytes()).hexdigest()
        if stamp.read_text() == f"{inputs.hexdigest()} {digest}":  # same inputs, zip untouched since
            return target, digest
    digest = write_zip(target, wheel_files(wheels))
    stamp.write_text(f"{inputs.hexdigest()} {digest}")
    return target, digest


def build_layer() -> tuple[Path, str]:
    target = BUILD / "layer.zip"
    return target, write_zip(target, layer_files())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--function", action="append", help="build only this function (repeatable)")
    parser.add_argument("--no-layer", action="store_true", help="skip build/layer.zip and the crypto layer")
    parser.add_argument("--architecture", choices=sorted(ARCHITECTURES),
                        default=os.environ.get("LAMBDA_ARCHITECTURE") or "arm64",
                        help="Lambda architecture of the crypto layer (default: $LAMBDA_ARCHITECTURE, else arm64; "
                             "must match terraform's lambda_architecture)")
    parser.add_argument("--json", action="store_true", help="print the table as JSON")
    args = parser.parse_args(argv)
    if args.architecture not in ARCHITECTURES:
        parser.error(f"LAMBDA_ARCHITECTURE must be one of {', '.join(sorted(ARCHITECTURES))}, got {args.architecture!r}")
    try:
        manifest = load_manifest(ROOT)
    except ManifestError as e:
        raise SystemExit(f"build: {e}") from None
    names = args.function or sorted(manifest.functions)
    unknown = [n for n in names if n not in manifest.functions]
    if unknown:
        parser.error(f"not in the manifest: {', '.join(unknown)} (known: {', '.join(sorted(manifest.functions))})")
    rows = [build_function(name, manifest) for name in names]
    if not args.no_layer and not args.function:
        rows.append(build_layer())
        rows.append(build_crypto_layer(args.architecture))
    table = [{"artifact": str(path.relative_to(ROOT)), "bytes": path.stat().st_size, "sha256": digest}
             for path, digest in rows]
    if args.json:
        print(json.dumps(table, indent=2))
    else:
        print(f"{'artifact':<40} {'size':>10}  sha256")
        for row in table:
            print(f"{row['artifact']:<40} {row['bytes'] / 1024:>8.1f}KB  {row['sha256'][:16]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
