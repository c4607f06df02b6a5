"""tools/build.py: deterministic, handler-only function zips, a layer without boto3, and the crypto layer
for the Lambda architecture."""

import hashlib
import importlib.util
import json
import os
import sys
import zipfile
from pathlib import Path

import pytest

from .conftest import MANIFEST, ROOT

spec = importlib.util.spec_from_file_location("build_tool", ROOT / "tools" / "build.py")
build = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build)


@pytest.fixture
def out(tmp_path, monkeypatch):
    monkeypatch.setattr(build, "BUILD", tmp_path)
    (tmp_path / "wheels").mkdir()
    cache = ROOT / "build" / "wheels"  # reuse downloaded wheels if present (offline-friendly)
    if cache.is_dir():
        for wheel in cache.glob("*.whl"):
            (tmp_path / "wheels" / wheel.name).write_bytes(wheel.read_bytes())
    return tmp_path


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_building_twice_gives_identical_bytes_even_when_file_times_change(out):
    first = {name: build.build_function(name)[1] for name in MANIFEST.functions}
    handler = ROOT / "functions" / "ping" / "handler.py"
    stat = handler.stat()
    os.utime(handler, (stat.st_atime + 1000, stat.st_mtime + 1000))
    try:
        second = {name: build.build_function(name)[1] for name in MANIFEST.functions}
    finally:
        os.utime(handler, (stat.st_atime, stat.st_mtime))
    assert first == second


def test_function_zip_holds_only_the_handler_code_with_fixed_metadata(out):
    path, _ = build.build_function("send_message")
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        assert [i.filename for i in infos] == ["handler.py"]
        assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in infos)
        assert all((i.external_attr >> 16) & 0o777 == 0o644 for i in infos)
        assert archive.read("handler.py") == (ROOT / "functions" / "send_message" / "handler.py").read_bytes()


def test_every_function_zip_is_under_50_kb(out):
    for name in MANIFEST.functions:
        path, _ = build.build_function(name)
        assert path.stat().st_size <= 50 * 1024, name


def test_layer_has_the_shared_package_and_pynamodb_but_not_boto3(out):
    path, digest = build.build_layer()
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    assert "python/chat/registry.py" in names and "python/pynamodb/models.py" in names
    assert "python/jwt/api_jwt.py" in names
    assert "python/aws_lambda_powertools/metrics/provider/cloudwatch_emf/cloudwatch.py" in names
    assert not any(n.startswith(("python/boto3/", "python/botocore/", "python/jmespath/")) for n in names)
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    bare = [n.rstrip("/") for n in names]
    assert bare == sorted(bare)
    assert build.build_layer()[1] == digest


def test_layer_pins_are_the_versions_the_tests_and_the_local_stack_run_with():
    # GIVEN requirements/layer.txt / THEN every pin is the one dev.txt installs (what every test runs)
    dev = {line.strip().lower().replace("-", "_") for line in (ROOT / "requirements" / "dev.txt").read_text().splitlines()}
    pins = [req.lower().replace("-", "_") for req in build.layer_requirements()]
    assert pins and [p for p in pins if p not in dev] == []


def test_unknown_function_is_refused_with_the_known_names(capsys):
    with pytest.raises(SystemExit):
        build.main(["--function", "nope"])
    assert "known:" in capsys.readouterr().err


# --- the crypto layer (cryptography + cffi for the authorizer's oidc mode) ----------------------------
@pytest.fixture
def crypto_out(out):
    for arch in build.ARCHITECTURES:  # reuse downloaded platform wheels too
        cache = ROOT / "build" / "wheels" / arch
        if cache.is_dir():
            (out / "wheels" / arch).mkdir(parents=True, exist_ok=True)
            for wheel in cache.glob("*.whl"):
                (out / "wheels" / arch / wheel.name).write_bytes(wheel.read_bytes())
    return out


def elf_machine(data: bytes) -> int:
    assert data[:4] == b"\x7fELF", "not an ELF shared object"
    return int.from_bytes(data[18:20], "little")


@pytest.mark.parametrize("architecture", sorted(build.ARCHITECTURES))
def test_crypto_layer_ships_native_code_for_the_lambda_architecture(crypto_out, architecture):
    # GIVEN the crypto layer built for an architecture / THEN every shared object in it is for that
    # instruction set and for CPython 3.12 (abi3 or cp312), and the pure parts are there too
    path, _ = build.build_crypto_layer(architecture)
    _, machine = build.ARCHITECTURES[architecture]
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        objects = [n for n in names if n.endswith(".so")]
        assert "python/cryptography/hazmat/bindings/_rust.abi3.so" in objects
        assert any(n.startswith("python/_cffi_backend.cpython-312-") for n in objects)
        for name in objects:
            assert elf_machine(archive.read(name)) == machine, name
            assert ".abi3." in name or ".cpython-312-" in name, name
        assert "python/jwt/api_jwt.py" not in names  # PyJWT is in the shared layer, once
        assert "python/pycparser/c_parser.py" in names


def test_crypto_layer_is_byte_identical_when_rebuilt_from_scratch(crypto_out):
    first = build.build_crypto_layer("arm64")[1]
    build.crypto_layer_path("arm64").unlink()  # no reuse: a real second build
    assert build.build_crypto_layer("arm64")[1] == first
    assert build.build_crypto_layer("arm64")[1] == first  # and the reused one is that one


def test_crypto_layer_refuses_a_cached_wheel_that_does_not_match_its_pinned_hash(crypto_out, monkeypatch):
    # GIVEN a tampered wheel in the cache
    build.fetch_platform_wheels("x86_64")
    wheel = next((crypto_out / "wheels" / "x86_64").glob("cffi-*.whl"))
    wheel.write_bytes(wheel.read_bytes() + b"tampered")
    calls = []
    monkeypatch.setattr(build.subprocess, "run", lambda *a, **k: calls.append(a))
    # WHEN the layer is built offline / THEN the wheel is not used and the build says which pin failed
    with pytest.raises(SystemExit, match="cffi"):
        build.fetch_platform_wheels("x86_64")
    assert calls, "a mismatching cached wheel must be fetched again, not used"


def test_crypto_layer_pins_are_the_versions_the_tests_run_with():
    pinned = {f"{name}=={version}" for name, version in build.crypto_requirements()}
    dev = {line.strip().lower().replace("-", "_") for line in (ROOT / "requirements" / "dev.txt").read_text().splitlines()}
    assert {p.lower() for p in pinned} <= dev


def test_crypto_layer_is_closed_under_its_declared_dependencies(crypto_out):
    import re

    wheels = build.fetch_platform_wheels("arm64")
    shipped = {build._wheel_key_of(w)[0] for w in wheels}
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
            for line in archive.read(metadata).decode().splitlines():
                if not line.startswith("Requires-Dist:") or "extra ==" in line:
                    continue
                if "python_full_version < '3.11'" in line or "PyPy" in line.split(";", 1)[-1] and "!=" not in line:
                    continue  # not for CPython 3.12
                name = re.split(r"[ ;<>=!~\[]", line.removeprefix("Requires-Dist:").strip())[0]
                assert name.lower().replace("-", "_") in shipped, (wheel.name, line)


def python312() -> str | None:
    """The same search as tools/test.d/05-python312.sh: $PYTHON312, python3.12, pyenv's, /usr/bin."""
    import glob
    import shutil
    import subprocess

    candidates = [os.environ.get("PYTHON312"), shutil.which("python3.12"),
                  *sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python3.12"))), "/usr/bin/python3.12"]
    for candidate in filter(None, candidates):
        check = subprocess.run([candidate, "-c", "import sys; sys.exit(sys.version_info[:2] != (3, 12))"],
                               capture_output=True)
        if check.returncode == 0:
            return candidate
    return None


def lambda_runtime_stand_in(target: Path) -> Path:
    """What the python3.12 runtime has besides the stdlib that the layer relies on without shipping it:
    jmespath (a botocore dependency, imported by Powertools)."""
    import shutil

    import jmespath

    shutil.copytree(Path(jmespath.__file__).parent, target / "jmespath")
    return target


def test_the_x86_64_crypto_layer_verifies_rs256_tokens_on_python_312(crypto_out, tmp_path):
    # GIVEN python3.12 (Lambda's runtime version) with only the stdlib, the shared layer and the crypto
    # layer on its path, as Lambda lays out /opt/python (arm64 cannot run here: checked by ELF above)
    import subprocess

    py312 = python312()
    if py312 is None:
        print("\n!!!!! SKIPPED: no python3.12 (set PYTHON312=...): the crypto layer is not imported on Lambda's Python",
              file=sys.stderr)
        pytest.skip("python3.12 not installed: the crypto layer's import on the Lambda Python is not checked")
    for path in (build.build_layer()[0], build.build_crypto_layer("x86_64")[0]):
        with zipfile.ZipFile(path) as archive:
            archive.extractall(tmp_path / "opt")
    runtime = lambda_runtime_stand_in(tmp_path / "var" / "runtime")
    from emulator.oidc_issuer import LocalIssuer

    issuer = LocalIssuer("https://idp.example.com", "app")
    documents = {"https://idp.example.com/.well-known/openid-configuration":
                 issuer.discovery("https://idp.example.com/jwks.json"), "https://idp.example.com/jwks.json": issuer.jwks()}
    code = (
        "import json, sys\n"
        f"sys.path[:0] = [{str(tmp_path / 'opt' / 'python')!r}, {str(runtime)!r}]\n"
        "import cryptography, jwt\n"
        "from chat.config import Settings\n"
        "from chat.oidc import OidcVerifier\n"
        "docs = json.loads(sys.argv[1])\n"
        "env = {'CONNECTIONS_TABLE': 'c', 'ROOM_MEMBERS_TABLE': 'r', 'MESSAGES_TABLE': 'm', 'AUTH_MODE': 'oidc',\n"
        "       'OIDC_ISSUER': 'https://idp.example.com', 'OIDC_AUDIENCE': 'app'}\n"
        "verifier = OidcVerifier(Settings.from_env(env), fetch=lambda url, timeout: docs[url])\n"
        "print(verifier.verify(sys.argv[2], 2.0), cryptography.__file__.startswith(sys.path[0]))\n"
    )
    result = subprocess.run([py312, "-S", "-c", code, json.dumps(documents), issuer.mint("u_312")],
                            capture_output=True, text=True, timeout=120)
    # THEN the token verifies with the shipped cryptography (not some installed copy)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines()[-1].split() == ["u_312", "True"]
