"""Runs the test suite N times, each in a fresh clone of the current commit, optionally while other
processes keep every core busy, and summarises the failures of each run: the way to find flaky tests
(`make test-repeat N=5 [CPU_LOAD=1] [SUITES=fast|all]`; docs/reliability.md "Repeat runs").

- A fresh clone per run (``git clone --no-local`` of this repository at HEAD; uncommitted changes are
  not in it, and a warning says so): no state survives from one run to the next (build/, state,
  recorded files, pytest's cache).
- The clone uses this checkout's bootstrapped ``.venv`` (and ``.tools``: node tools, DynamoDB Local's
  jar) through symlinks unless ``--fresh-venv``, which bootstraps each clone from scratch (minutes).
- ``--suites fast``: unit + emulator + e2e tests (pytest directly); ``all``: `tools/test.sh`, exactly
  what `make test` and CI run (ruff, every pytest suite, tools/test.d).
- ``--cpu-load``: one busy-looping process per core for the whole run (our own children, stopped by
  their process ids afterwards), as a shared CI machine might be.

Output: a line per run as it ends, a summary table, and build/test-repeat/summary.json plus each run's
log and JUnit XML. Exit status 1 when any run failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
FAST = ["tests/unit", "tests/emulator", "tests/e2e"]
GIT = shutil.which("git") or "git"
SHARED = (".venv", ".tools")  # bootstrapped, git-ignored: linked into each clone unless --fresh-venv


def git(*args: str, cwd: Path = REPO) -> str:
    return subprocess.run([GIT, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()  # noqa: S603


def start_cpu_load() -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"])  # noqa: S603
            for _ in range(os.cpu_count() or 1)]


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for proc in processes:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)  # our own child, by its id
        proc.wait()


def failures(junit: Path) -> tuple[dict[str, int], list[str]]:
    if not junit.exists():
        return {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}, ["(no JUnit report: the run did not reach pytest's end)"]
    root = ET.parse(junit).getroot()  # noqa: S314 - our own pytest's output
    suites = [root] if root.tag == "testsuite" else list(root)
    counts = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
    failed = []
    for case in root.iter("testcase"):
        for outcome in ("failure", "error"):
            node = case.find(outcome)
            if node is not None:
                message = (node.get("message") or "").splitlines()[0][:160] if node.get("message") else ""
                failed.append(f"{case.get('classname')}::{case.get('name')} [{outcome}] {message}")
    return counts, failed


def one_run(index: int, commit: str, args: argparse.Namespace, out: Path, work: Path) -> dict[str, Any]:
    clone = work / f"run-{index}"
    subprocess.run([GIT, "clone", "--quiet", "--no-local", str(REPO), str(clone)], check=True)  # noqa: S603
    git("checkout", "--quiet", commit, cwd=clone)
    if not args.fresh_venv:
        for name in SHARED:
            if (REPO / name).exists():
                (clone / name).symlink_to(REPO / name)
    junit = out / f"run-{index}.xml"
    log = out / f"run-{index}.log"
    extra = ["-p", "no:cacheprovider", f"--junitxml={junit}", *args.pytest_args]
    if args.suites == "all":
        command = [str(clone / "tools" / "test.sh"), *extra]
    else:
        if args.fresh_venv:
            subprocess.run([str(clone / "tools" / "bootstrap.sh")], cwd=clone, check=True)  # noqa: S603
        command = [".venv/bin/python", "-m", "pytest", "-q", *FAST, *extra]
    load = start_cpu_load() if args.cpu_load else []
    started = time.monotonic()
    try:
        with log.open("wb") as sink:
            rc = subprocess.run(command, cwd=clone, stdout=sink, stderr=subprocess.STDOUT).returncode  # noqa: S603
    finally:
        stop(load)
    counts, failed = failures(junit)
    if rc != 0 and not failed:
        failed = [f"(exit status {rc} with no failed test: see {log})"]
    if not args.keep:
        shutil.rmtree(clone, ignore_errors=True)
    return {"run": index, "cpu_load": args.cpu_load, "suites": args.suites, "exit_status": rc,
            "minutes": round((time.monotonic() - started) / 60, 1), **counts, "failed": failed,
            "log": str(log), "junit": str(junit)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python tools/test_repeat.py", description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=5, help="how many fresh-clone runs (default 5)")
    p.add_argument("--suites", choices=("fast", "all"), default="all",
                   help="all: tools/test.sh as `make test` (default); fast: unit + emulator + e2e")
    p.add_argument("--cpu-load", action="store_true", help="keep every core busy during each run")
    p.add_argument("--fresh-venv", action="store_true", help="bootstrap each clone's own .venv (slow)")
    p.add_argument("--keep", action="store_true", help="keep the clones (under build/test-repeat/clones)")
    p.add_argument("--out", type=Path, default=REPO / "build" / "test-repeat")
    p.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = p.parse_args(argv)
    args.out = args.out.resolve()  # pytest runs in the clone: a relative path would land there
    if not 1 <= args.runs <= 50:
        raise SystemExit("--runs must be between 1 and 50")
    commit = git("rev-parse", "HEAD")
    if git("status", "--porcelain", "--untracked-files=no"):
        print("test-repeat: uncommitted changes are NOT tested (each run is a clone of HEAD)", file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    work = args.out / "clones" if args.keep else Path(tempfile.mkdtemp(prefix="test-repeat-"))
    work.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        for index in range(1, args.runs + 1):
            result = one_run(index, commit, args, args.out, work)
            results.append(result)
            verdict = "PASS" if result["exit_status"] == 0 else "FAIL"
            print(f"run {index}/{args.runs} ({'CPU loaded' if args.cpu_load else 'idle CPU'}): {verdict} "
                  f"{result['tests']} tests, {result['failures']} failed, {result['errors']} errors, "
                  f"{result['minutes']} min", flush=True)
            for name in result["failed"]:
                print(f"    {name}", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    summary = {"commit": commit, "runs": results, "failed_runs": sum(1 for r in results if r["exit_status"])}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"\ntest-repeat: {len(results) - summary['failed_runs']}/{len(results)} runs passed at {commit[:10]} "
          f"(summary: {args.out / 'summary.json'})")
    return 1 if summary["failed_runs"] else 0


if __name__ == "__main__":
    sys.exit(main())
