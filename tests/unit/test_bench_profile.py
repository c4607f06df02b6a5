"""bench.profile reads py-spy's raw output: which process a sample came from, and its frames."""

from __future__ import annotations

from bench import profile

GATEWAY = 'process 10:"python -m harness.stack_server --function-workers 2"'
FORKSERVER = ('process 11:"python -B -c from multiprocessing.forkserver import main; main(25, 27, '
              "['boto3'], **{'sys_path': ['/x']})\"")
SANDBOX = ('process 12:"python -B -c from multiprocessing.forkserver import main; main(25, 27, '
           "['boto3'], **{'sys_path': ['/x']})\"")


def test_samples_of_forkserver_sandboxes_count_as_workers_and_their_command_line_is_no_frame(tmp_path):
    # GIVEN a gateway sample and a sandbox sample (its parents' process lines first, as py-spy writes them)
    raw = tmp_path / "p.raw"
    raw.write_text(
        f"{GATEWAY};run (asyncio/runners.py:118);post (emulator/management_api.py:70) 3\n"
        f"{GATEWAY};{FORKSERVER};{SANDBOX};_bootstrap (threading.py:1);post (chat/management.py:51) 1\n"
    )
    # WHEN it is summarized
    summary = profile.summarize(raw)
    # THEN the shares follow the processes, and no frame is a piece of a command line
    assert summary["share"] == {"gateway": 75.0, "worker": 25.0}
    frames = [e["frame"] for kind in ("self", "inclusive") for side in ("gateway", "worker") for e in summary[kind][side]]
    assert "post (chat/management.py:51)" in frames
    assert not any("main(" in f or "process" in f for f in frames)
