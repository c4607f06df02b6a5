"""tools/build.py: deterministic, handler-only function zips and a layer without boto3."""

import hashlib
import importlib.util
import os
import zipfile

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
    assert not any(n.startswith(("python/boto3/", "python/botocore/")) for n in names)
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    bare = [n.rstrip("/") for n in names]
    assert bare == sorted(bare)
    assert build.build_layer()[1] == digest


def test_unknown_function_is_refused_with_the_known_names(capsys):
    with pytest.raises(SystemExit):
        build.main(["--function", "nope"])
    assert "known:" in capsys.readouterr().err
