#!/usr/bin/env python3
"""Deterministic packaging: build/functions/<name>.zip (handler code only) for every manifest
function, and build/layer.zip (python/chat + the pure-Python wheels of requirements/layer.txt).

Same inputs -> byte-identical zips on any machine: entries sorted, timestamps fixed to
1980-01-01, permissions fixed (0644 files, 0755 dirs), no __pycache__, fixed compression level.
Wheels are unpacked by this script (not pip-installed) so no installer metadata varies.

    python tools/build.py            # everything, prints a size table
    python tools/build.py --function send_message
"""

from __future__ import annotations

import argparse
import hashlib
import json
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


def layer_files() -> dict[str, bytes]:
    files = tree_files(ROOT / "shared" / "chat", prefix="python/chat/")
    for wheel in fetch_wheels(layer_requirements()):
        with zipfile.ZipFile(wheel) as archive:
            for name in archive.namelist():
                if name.endswith("/") or Path(name).suffix in SKIP_SUFFIXES:
                    continue
                files["python/" + name] = archive.read(name)
    return files


def build_layer() -> tuple[Path, str]:
    target = BUILD / "layer.zip"
    return target, write_zip(target, layer_files())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--function", action="append", help="build only this function (repeatable)")
    parser.add_argument("--no-layer", action="store_true", help="skip build/layer.zip")
    parser.add_argument("--json", action="store_true", help="print the table as JSON")
    args = parser.parse_args(argv)
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
