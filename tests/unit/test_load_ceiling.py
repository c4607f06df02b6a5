"""What bounds the load test's rate: each process group's CPU over the sending phase
(loadtest.resources), the bottleneck named from it, and the ceiling sweep's verdict (loadtest.ceiling)."""

import subprocess
import sys
import time

import psutil
import pytest

from loadtest import ceiling
from loadtest.cli import build_parser, check_bounds
from loadtest.resources import ResourceMonitor, bottleneck
from loadtest.runner import LoadParams

BURN = "import sys\nwhile True: pass"
IDLE = "import sys; sys.stdin.read()"


def child(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE)  # noqa: S603


def cpu_of(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def burn_until(pid: int, seconds: float, deadline_s: float = 60.0) -> None:
    """Waits until the (busy-looping) process has used ``seconds`` more CPU: the condition is read from
    the kernel's counters, which have no event to wait on."""
    start, deadline = cpu_of(pid), time.monotonic() + deadline_s
    while cpu_of(pid) - start < seconds:
        assert time.monotonic() < deadline, f"process {pid} used no CPU for {deadline_s} s"
        time.sleep(0.02)


@pytest.fixture
def processes():
    started: list[subprocess.Popen[bytes]] = []

    def start(code: str) -> subprocess.Popen[bytes]:
        proc = child(code)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait()


def test_the_busy_group_is_named_the_bottleneck_when_the_cores_are_used_up():
    result = bottleneck({"dynamodb-local (jvm)": 1.3, "local stack: gateway": 0.2, "load clients": 0.3}, cpus=2)
    assert result["saturated"] is True and result["busiest"] == "dynamodb-local (jvm)"
    assert result["verdict"].startswith("CPU-bound: 1.8 of 2 cores") and "dynamodb-local (jvm) (1.3 cores, 72%" in result["verdict"]


def test_with_cores_to_spare_nothing_is_called_cpu_bound():
    result = bottleneck({"dynamodb-local (jvm)": 0.4, "load clients": 0.1}, cpus=2, machine_busy=0.6)
    assert result["saturated"] is False and result["verdict"].startswith("not CPU-bound: 0.6 of 2 cores busy")


def test_cores_used_up_by_other_processes_are_named_as_such():
    result = bottleneck({"dynamodb-local (jvm)": 0.4, "load clients": 0.1}, cpus=2, machine_busy=1.95)
    assert result["saturated"] is True
    assert result["verdict"].startswith("CPU-bound by other processes: the machine's 2 cores were 1.95 busy")


def test_the_monitor_counts_each_groups_cpu_inside_the_window_only(processes):
    # GIVEN a busy-looping process and an idle one, the busy one already used CPU before the window
    busy, idle = processes(BURN), processes(IDLE)
    burn_until(busy.pid, 0.2)
    monitor = ResourceMonitor(lambda: {"busy": [busy.pid], "idle": [idle.pid]})
    # WHEN the window spans 0.3 s of the busy process's CPU
    monitor.open_window(now=100.0)
    burn_until(busy.pid, 0.3)
    monitor.close_window(now=100.0 + 1.0)
    after = cpu_of(busy.pid)
    # THEN the window's CPU counts, not the 0.2 s before it; the idle group used almost none
    cores = monitor.cores()
    assert 0.3 - 0.02 <= cores["by_group"]["busy"] <= after - 0.2 + 0.02
    assert cores["by_group"]["idle"] < 0.05
    assert cores["busiest"] == "busy" and cores["window_s"] == 1.0


def test_a_process_that_starts_inside_the_window_counts_from_its_start_and_one_that_exits_until_it_went(processes):
    # GIVEN a group whose process is replaced during the window (as a killed sandbox is)
    first = processes(BURN)
    pids = {"sandboxes": [first.pid]}
    monitor = ResourceMonitor(lambda: dict(pids))
    monitor.open_window(now=0.0)
    burn_until(first.pid, 0.2)
    monitor.sample()
    first.kill()
    first.wait()
    second = processes(BURN)
    pids["sandboxes"] = [second.pid]
    burn_until(second.pid, 0.2)
    # WHEN the window closes
    monitor.close_window(now=2.0)
    # THEN both processes' CPU is in the group's figure
    assert monitor.cores()["by_group"]["sandboxes"] * 2.0 >= 0.4 - 0.02


def report(achieved: float, busiest: str = "dynamodb-local (jvm)", lost: int = 0, realised: float | None = None) -> dict:
    return {"throughput": {"messages_per_s": achieved, "deliveries_per_s": achieved * 4,
                           "offered_messages_per_s": realised},
            "ack_latency_ms": {"p50": 10, "p99": 20}, "latency_ms": {"p50": 9, "p99": 19},
            "lost": lost, "duplicated_after_dedupe": 0, "order_violations": 0, "wrong_message_id": 0,
            "cpu_cores_while_sending": {"by_group": {busiest: 1.5}, "verdict": f"CPU-bound: {busiest}"},
            "peak_rss_mb": {}}


def test_the_ceiling_is_the_best_rate_and_the_bottleneck_that_of_the_first_step_behind():
    steps = [ceiling.summarise(10, report(10.0, "load clients")), ceiling.summarise(50, report(48.0, "gateway")),
             ceiling.summarise(100, report(61.0)), ceiling.summarise(200, report(58.0, "other"))]
    result = ceiling.verdict(steps)
    assert result["ceiling_messages_per_s"] == 61.0 and result["reached"] is True
    assert result["first_step_behind_offered_messages_per_s"] == 100
    assert result["bottleneck"] == "CPU-bound: dynamodb-local (jvm)"


def test_keeping_up_is_judged_against_the_rate_the_random_schedules_realised():
    # 100 msg/s nominal, but the exponential schedules made only 84 msg/s due in this step
    assert ceiling.summarise(100, report(80.0, realised=84.0))["keeps_up"] is True
    assert ceiling.summarise(100, report(80.0, realised=100.0))["keeps_up"] is False


def test_a_sweep_where_every_step_keeps_up_has_not_reached_the_ceiling():
    result = ceiling.verdict([ceiling.summarise(10, report(10.0)), ceiling.summarise(20, report(19.5))])
    assert result["reached"] is False and result["ceiling_messages_per_s"] == 19.5


async def test_the_sweep_offers_rising_rates_and_stops_after_two_steps_behind(monkeypatch):
    offered: list[float] = []
    achieved = {10.0: 10.0, 25.0: 24.0, 50.0: 30.0, 100.0: 31.0, 200.0: 30.0}

    async def fake_run_load(target, params, progress):
        rate = round(params.clients / params.send_interval_s, 6)
        assert params.chaos is False
        offered.append(rate)
        return report(achieved[rate])

    monkeypatch.setattr(ceiling, "run_load", fake_run_load)
    result = await ceiling.sweep(target=None, base=LoadParams(clients=100, chaos=True), steps=ceiling.DEFAULT_STEPS)
    assert offered == [10.0, 25.0, 50.0, 100.0]
    assert result["ceiling_messages_per_s"] == 31.0 and ceiling.passed(result)


def test_a_lost_message_in_any_step_fails_the_sweep():
    result = {"steps": [ceiling.summarise(10, report(10.0)), ceiling.summarise(20, report(20.0, lost=1))]}
    assert ceiling.passed(result) is False


@pytest.mark.parametrize("argv, message", [
    (["--ceiling", "--chaos"], "without chaos"),
])
def test_the_ceiling_refuses_chaos(argv, message):
    with pytest.raises(SystemExit, match=message):
        check_bounds(build_parser().parse_args(argv))


@pytest.mark.parametrize("steps", ["10,x", "50,10", "0,10", "10,5000", ""])
def test_bad_ceiling_steps_are_refused_with_a_clear_error(steps, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--ceiling", "--ceiling-steps", steps])
    assert "--ceiling-steps" in capsys.readouterr().err
