"""Goals, the plain-text table, and the PNG plot of one bench run (results.json is the source)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

GOALS_DOC = {
    "fanout_speedup": "fan-out at the middle N: >= 50x faster than the seed design",
    "items_read": "ours: DynamoDB items read == audience (Query, no Scan)",
    "no_tail_loss": "ours: every recipient got each message exactly once (incl. the hand-off run)",
    "handoff": "ours: a fan-out that runs out of time hands the rest off and still delivers all",
    "import_ratio": "handler import <= 1.3x bare `import boto3` (every function)",
    "zip_size": "every function zip <= 50 KB",
    "echo_rate": "echo round trip with 10 clients >= 15,000 msg/s",
    "rss_10k": "emulator RSS with the largest idle fleet <= 1 GiB",
    "offline_ratio": "warm round trip ours/serverless-offline <= 0.5 ($default route, p50)",
    "room_requests": "DynamoDB requests per room message >= 40% fewer than the baseline commit's (same run)",
    "cost_room100": "dollars per million deliveries, room of 100: ours <= 1/20 of the seed design's (all items)",
    "cost_room100_design": "the same, Lambda + DynamoDB only (API Gateway messages and connection minutes are "
                           "the same for both designs)",
    "send_rate": "sendMessage, 10 clients in one room: deliveries/s >= 3x the baseline commit's (same run)",
    "first_invoke": "every function's first invocation <= 50 ms beyond its import",
}
FANOUT_GOAL = 50
ROOM_OP = "room message, 10 recipients"


def evaluate(r: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(key: str, measured: Any, met: bool | None) -> None:
        out.append({"goal": key, "text": GOALS_DOC[key], "measured": measured, "met": met})

    fan = r.get("fanout")
    if fan:
        mid = fan["runs"][len(fan["runs"]) // 2]
        add("fanout_speedup", f"N={mid['n']}: {mid['speedup']}x (seed projected {mid['seed']['projected_full_s']} s"
            f" vs ours {mid['ours']['all_received_s']} s)", mid["speedup"] is not None and mid["speedup"] >= FANOUT_GOAL)
        # every item read is the sender, a recipient, or a stale row the fan-out found gone (410)
        ok = all(x["ours"]["items_read_scan"] == 0
                 and x["ours"]["items_read_query"] == x["n"] + 1 + x["ours"]["ack_delivery"]["gone"]
                 for x in fan["runs"])
        add("items_read", "; ".join(f"N={x['n']}: Query {x['ours']['items_read_query']} / Scan "
                                    f"{x['ours']['items_read_scan']} (seed Scan {x['seed']['items_read_scan']})"
                                    for x in fan["runs"]), ok)
        every = [x["ours"] for x in fan["runs"]] + ([fan["handoff"]] if fan.get("handoff") else [])
        add("no_tail_loss", "; ".join(f"N={x['recipients']}: missing {x['missing']}, dup {x['duplicates']}"
                                      for x in every), all(x["missing"] == 0 and x["duplicates"] == 0 for x in every))
        h = fan.get("handoff")
        if h:
            add("handoff", f"continued={h['handed_off']}, first invocation delivered {h['ack_delivery']['delivered']}"
                f", all {h['received_once']}/{h['recipients']} in {h['all_received_s']} s",
                h["handed_off"] and h["missing"] == 0 and h["duplicates"] == 0)
    _cost_goals(r, add)
    cold = r.get("cold")
    if cold:
        invoked = {fn: v["first_invoke_ms"] for fn, v in cold["functions"].items() if v["first_invoke_ms"] is not None}
        slowest = max(invoked.items(), key=lambda kv: kv[1])
        row = cold["functions"][slowest[0]]
        add("first_invoke", f"slowest {slowest[0]} {slowest[1]} ms beyond its import and init phase (median of "
            f"{cold['invoke_runs']} fresh interpreters; {row.get('first_invoke_cpu_ms')} ms of it our CPU, the same "
            f"event warm {row.get('second_invoke_ms')} ms)",
            slowest[1] <= 50)
        worst = max(cold["functions"].items(), key=lambda kv: kv[1]["import_vs_boto3"])
        add("import_ratio", f"worst {worst[0]} {worst[1]['import_vs_boto3']}x (median of {cold['runs']} paired CPU-time "
            f"ratios; {worst[1]['import_cpu_ms']} vs boto3 {cold['boto3_import_cpu_ms']} ms)",
            worst[1]["import_vs_boto3"] <= 1.3)
    pk = r.get("packages")
    if pk:
        zips = [a for a in pk if a["artifact"].startswith("build/functions/")]
        biggest = max(zips, key=lambda a: a["bytes"])
        add("zip_size", f"largest {Path(biggest['artifact']).name} {biggest['bytes']} B", biggest["bytes"] <= 50 * 1024)
    em = r.get("emulator")
    if em:
        e = em["echo"]["$default"]
        add("echo_rate", f"{e['msgs_per_s']} msg/s ($default, {e.get('client')} client, window {e['window']}); "
            f"p50 {e['rtt_p50_ms']} ms",
            e["msgs_per_s"] >= 15_000)
        if em.get("rss"):
            rss = em["rss"]
            add("rss_10k", f"{rss['connections']} idle: {rss['stack_rss_mb']} MB (+ DynamoDB Local JVM "
                f"{rss['dynamodb_local_rss_mb']} MB)", rss["stack_rss_mb"] <= 1024)
    off = r.get("offline")
    if off:
        d = off["routes"]["$default"]
        add("offline_ratio", f"$default p50 {d['ours']['p50_ms']} / {d['serverless_offline']['p50_ms']} ms = "
            f"{d['ratio_p50']} (mean ratio {d['ratio_mean']}; {d.get('client')} client)", d["ratio_p50"] <= 0.5)
    return out


def _cost_goals(r: dict[str, Any], add: Any) -> None:
    base, cost = r.get("baseline") or {}, r.get("cost")
    now_ops = {o["operation"]: o for o in (cost or {}).get("operations", [])}
    before_ops = {o["operation"]: o for o in base.get("operations", [])}
    if ROOM_OP in now_ops:
        now = now_ops[ROOM_OP]["requests"]
        if ROOM_OP in before_ops:
            before = before_ops[ROOM_OP]["requests"]
            add("room_requests", f"{before} -> {now} requests per message ({(1 - now / before) * 100:.0f}% fewer; "
                f"baseline {base['ref']})", now <= 0.6 * before)
        else:
            add("room_requests", f"{now} requests per message (no baseline in this run)", None)
    if cost:
        room = next((d for d in cost["dollars"] if d["recipients"] == 100), None)
        if room:
            o, sd = room["ours_per_million"], room["seed_per_million"]
            add("cost_room100", f"ours ${o['total']:.3f} vs seed ${sd['total']:.3f} per million deliveries "
                f"(seed/ours {room['ratio_total']}x; both pay ${o['websocket_messages']:.2f} of API Gateway messages)",
                room["ratio_total"] is not None and room["ratio_total"] >= 20)
            add("cost_room100_design", f"ours ${o['lambda'] + o['dynamodb']:.4f} vs seed "
                f"${sd['lambda'] + sd['dynamodb']:.4f} (seed/ours {room['ratio_lambda_dynamodb']}x)",
                room["ratio_lambda_dynamodb"] is not None and room["ratio_lambda_dynamodb"] >= 20)
    send = ((r.get("emulator") or {}).get("echo") or {}).get("sendMessage (room of 10)")
    if send:
        if base.get("send"):
            ratio = send["deliveries_per_s"] / max(1, base["send"]["deliveries_per_s"])
            add("send_rate", f"{send['deliveries_per_s']} vs {base['send']['deliveries_per_s']} deliveries/s "
                f"({ratio:.1f}x; acks {send['msgs_per_s']} vs {base['send']['msgs_per_s']}/s)", ratio >= 3)
        else:
            add("send_rate", f"{send['deliveries_per_s']} deliveries/s, {send['msgs_per_s']} acks/s "
                "(no baseline in this run)", None)


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.3f}".rstrip("0").rstrip(".") if abs(v) < 100 else f"{v:,.1f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _table(title: str, header: list[str], rows: list[list[Any]]) -> str:
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(header)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    out = [f"\n== {title}", line, "-" * len(line)]
    out += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(out)


def render(r: dict[str, Any]) -> str:
    parts = [f"bench run {r['started']} ({r['mode']}), {r['elapsed_s']} s; machine: {r['machine']['summary']}"]
    fan = r.get("fanout")
    if fan:
        rows = []
        for x in fan["runs"]:
            o, s = x["ours"], x["seed"]
            rows.append([x["n"], x["room"] or "(all)", o["all_received_s"], o["ack_s"], o["handed_off"],
                         o["posts_per_s"], o["stack_cpu_ms_per_post"], o["received_once"],
                         o["missing"], o["duplicates"], o["items_read_query"], o["items_read_scan"],
                         s["all_received_s"], s["received_once"], s["dropped_silently"], s["projected_full_s"],
                         s["items_read_scan"], x["speedup"]])
        parts.append(_table(f"1. Broadcast fan-out, {fan['post_latency_ms']} ms per post, registry "
                            f"{fan['registry_rows']} connections (seed = NOT SHIPPED baseline, "
                            f"{fan['seed_timeout_s']} s timeout)",
                            ["N", "audience", "ours s", "ack s", "handed off", "posts/s", "CPU ms/post", "got 1x",
                             "miss", "dup", "Query items",
                             "Scan items", "seed s", "seed got", "seed dropped", "seed projected s",
                             "seed Scan items", "speedup"], rows))
        h = fan.get("handoff")
        if h:
            parts.append(_table("1b. Hand-off: broadcast started with little time left "
                                f"(injected {h['injected_latency_ms']} ms before the handler)",
                                ["N", "continued", "1st invocation delivered", "all received s", "got 1x", "miss",
                                 "dup", "Query items"],
                                [[h["recipients"], h["handed_off"], h["ack_delivery"]["delivered"],
                                  h["all_received_s"], h["received_once"], h["missing"], h["duplicates"],
                                  h["items_read_query"]]]))
        parts += _profile_tables(fan.get("profile"))
    cold = r.get("cold")
    if cold:
        sizes = {Path(a["artifact"]).stem: a["bytes"] for a in r.get("packages", [])}
        rows = [[fn, v["import_ms"], v["import_cpu_ms"], v["import_vs_boto3"], v["import_vs_boto3_wall"],
                 v["import_cpu_min_ms"], v["import_vs_boto3_least"],
                 v.get("init_ms"), v["first_invoke_ms"], v.get("first_invoke_cpu_ms"), v.get("second_invoke_ms"),
                 v["cold_total_ms"], ",".join(v["first_invoke_status"]),
                 sizes.get(fn)]
                for fn, v in cold["functions"].items()]
        parts.append(_table(f"2. Cold start ({cold['runs']} runs: medians, and least CPU), bare `import boto3` = "
                            f"{cold['boto3_import_ms']} ms wall / {cold['boto3_import_cpu_ms']} ms CPU "
                            f"(least {cold['boto3_import_cpu_min_ms']}); "
                            f"layer.zip = {_fmt(sizes.get('layer'))} B; "
                            + ", ".join(f"{name}.zip = {_fmt(size)} B (oidc mode, authorizer only)"
                                        for name, size in sizes.items() if name.startswith("crypto-layer")),
                            ["function", "import ms", "import CPU ms", "x boto3 (CPU)", "x boto3 (wall)",
                             "least CPU ms", "x boto3 (least)",
                             "init-phase ms", "1st invoke ms", "1st invoke CPU ms", "2nd invoke ms",
                             "import+init+invoke ms", "status", "zip B"], rows))
    em = r.get("emulator")
    if em:
        echoes = dict(em["echo"])
        base = r.get("baseline") or {}
        if base.get("send"):
            echoes[f"sendMessage, baseline {base['ref']}"] = base["send"]
        rows = [[k, e.get("client"), e["clients"], e["msgs_per_s"], e.get("deliveries_per_s"), e["window"],
                 e["rtt_p50_ms"], e["rtt_p99_ms"], e["round_trips"], e.get("stack_cpu_us_per_msg")]
                for k, e in echoes.items()]
        parts.append(_table("3a. Emulator round trip (10 clients; sendMessage: 10 clients in one room)",
                            ["route", "client", "clients", "msg/s", "deliveries/s", "in flight/client", "p50 ms",
                             "p99 ms", "samples", "stack CPU us/msg"], rows))
        rows = [[b["connected"], b["broadcasts"], b["all_received_p50_ms"], b["all_received_p99_ms"],
                 b["recipient_p50_ms"], b["recipient_p99_ms"], b["posts_per_s"], b["stack_cpu_cores"]]
                for b in em.get("broadcast", [])]
        parts.append(_table("3b. Broadcast to all, no injected latency",
                            ["connected", "broadcasts", "all-recv p50 ms", "all-recv p99 ms", "recipient p50 ms",
                             "recipient p99 ms", "posts/s", "stack CPU cores"], rows))
        if em.get("rss"):
            rss = em["rss"]
            parts.append(_table("3c. Memory", ["idle connections", "stack RSS MB", "empty stack RSS MB",
                                               "DynamoDB Local RSS MB", "connect rate /s", "client proc RSS MB"],
                                [[rss["connections"], rss["stack_rss_mb"], rss["empty_stack_rss_mb"],
                                  rss["dynamodb_local_rss_mb"], rss["connect_rate_per_s"], rss["bench_rss_mb"]]]))
    off = r.get("offline")
    if off:
        rows = [[route, x.get("client"), x["ours"]["p50_ms"], x["ours"]["p99_ms"], x["serverless_offline"]["p50_ms"],
                 x["serverless_offline"]["p99_ms"], x["ratio_p50"], x["ratio_mean"]] for route, x in off["routes"].items()]
        parts.append(_table(f"4. Warm round trip vs serverless-offline {off['versions']}",
                            ["route", "client", "ours p50 ms", "ours p99 ms", "sls-offline p50 ms", "sls-offline p99 ms",
                             "ratio p50", "ratio mean"], rows))
    parts += _cost_tables(r)
    rows = [[g["goal"], "MET" if g["met"] else ("MISSED" if g["met"] is False else "-"), g["measured"]]
            for g in r.get("goals", [])]
    parts.append(_table("Goals", ["goal", "result", "measured"], rows))
    return "\n".join(parts) + "\n"


def _profile_tables(p: dict[str, Any] | None) -> list[str]:
    if not p:
        return []
    if p.get("skipped"):
        return [f"== 1c. Fan-out profile: skipped ({p['skipped']})\n"]
    rows = []
    for kind in ("self", "inclusive"):
        for side in ("gateway", "worker"):
            rows += [[kind, side, e["pct"], e["frame"]] for e in p[kind][side]]
    return [_table(f"1c. Fan-out profile, N={p['n']} once more under py-spy --gil ({p['samples']} samples at "
                   f"{p['rate_hz']} Hz; gateway {p['share'].get('gateway')}%, workers {p['share'].get('worker')}%; "
                   "inclusive: our code and the hot-path libraries)", ["kind", "process", "% samples", "function"], rows)]


def _ops(calls: dict[str, Any]) -> str:
    return " ".join(f"{op}x{_fmt(n)}" for op, n in sorted(calls.items()))


def _cost_tables(r: dict[str, Any]) -> list[str]:
    cost, base = r.get("cost"), r.get("baseline") or {}
    if not cost:
        return []
    parts = []
    before = {o["operation"]: o for o in base.get("operations", [])}
    rows = []
    for o in cost["operations"]:
        b = before.get(o["operation"])
        rows.append([o["operation"], o["runs"], b["requests"] if b else None, _ops(b["dynamodb_calls"]) if b else None,
                     o["requests"], _ops(o["dynamodb_calls"]), o["rru"], o["wru"], _ops(o["invocations"]),
                     sum(o["billed_ms"].values()), o["gb_s"], o["messages_in"] + o["messages_out"]])
    parts.append(_table(f"5. Per operation: DynamoDB requests (before = baseline {base.get('ref', '-')}, registry "
                        f"{base.get('registry_rows', '-')}; now: registry {cost['registry_rows']}), request units, "
                        f"Lambda; {cost['post_latency_ms']} ms per post",
                        ["operation", "runs", "req before", "before", "req now", "now", "RRU", "WRU", "invocations",
                         "billed ms", "GB-s", "API GW msgs"], rows))
    rows = []
    for d in cost["dollars"]:
        o, sd = d["ours_per_million"], d["seed_per_million"]
        rows.append([d["recipients"], d["registry"], o["lambda"], o["dynamodb"], o["websocket_messages"],
                     o["connection_minutes"], o["total"], sd["lambda"], sd["dynamodb"], sd["websocket_messages"],
                     sd["connection_minutes"], sd["total"], d["ratio_total"], d["ratio_lambda_dynamodb"],
                     d["seed"]["seconds"]])
    parts.append(_table(f"6. Dollars per million deliveries (room messages; {cost['architecture']} Lambda, on-demand "
                        f"DynamoDB, {cost['deliveries_per_connection_minute']} delivery per connection-minute)",
                        ["recipients", "registry", "ours Lambda", "ours DynamoDB", "ours msgs", "ours conn-min",
                         "ours total", "seed Lambda", "seed DynamoDB", "seed msgs", "seed conn-min", "seed total",
                         "seed/ours", "seed/ours Lambda+DDB", "seed run s"], rows))
    parts.append(_table("6b. Prices", ["item", "USD", "per", "read", "region", "source"],
                        [[p["item"], f"{p['usd']:.10g}", p["per"], p["date"], p["region"], p["source"]]
                         for p in cost["prices"]]))
    return parts


def plot(r: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 2, figsize=(13, 13))
    fig.suptitle(f"wschat bench {r['started']} ({r['mode']}) - {r['machine']['summary']}", fontsize=9)
    ax = axes[0][0]
    fan = r.get("fanout")
    if fan:
        ns = [x["n"] for x in fan["runs"]]
        ax.plot(ns, [x["ours"]["all_received_s"] for x in fan["runs"]], "o-", label="ours: all received")
        ax.plot(ns, [x["seed"]["projected_full_s"] for x in fan["runs"]], "s--",
                label="seed (not shipped): time needed (projected)")
        ax.plot(ns, [x["seed"]["all_received_s"] or fan["seed_timeout_s"] for x in fan["runs"]], "x:",
                label="seed: measured (capped by timeout)")
        ax.axhline(fan["seed_timeout_s"], color="grey", lw=0.8, ls="--", label="Lambda timeout")
        ax.set_xlabel("recipients N")
        ax.set_ylabel("seconds")
        ax.set_yscale("log")
        ax.set_title(f"1. Broadcast fan-out ({fan['post_latency_ms']} ms per post)")
        ax.legend(fontsize=7)
    ax = axes[0][1]
    if fan:
        width = 0.35
        xs = range(len(fan["runs"]))
        ax.bar([x - width / 2 for x in xs], [x["ours"]["received_once"] / x["n"] * 100 for x in fan["runs"]],
               width, label="ours")
        ax.bar([x + width / 2 for x in xs], [x["seed"]["received_once"] / x["n"] * 100 for x in fan["runs"]],
               width, label="seed (not shipped)")
        ax.set_xticks(list(xs), [str(x["n"]) for x in fan["runs"]])
        ax.set_ylabel("% of recipients that got the message")
        ax.set_title("1. Delivered (seed: silent tail loss at the timeout)")
        ax.legend(fontsize=7)
    ax = axes[1][0]
    cold = r.get("cold")
    if cold:
        names = list(cold["functions"])
        ax.barh(names, [cold["functions"][n]["import_cpu_ms"] for n in names], label="import (CPU)")
        ax.barh(names, [cold["functions"][n]["first_invoke_ms"] or 0 for n in names],
                left=[cold["functions"][n]["import_cpu_ms"] for n in names], label="first invocation (wall)")
        ax.axvline(cold["boto3_import_cpu_ms"], color="k", ls="--", lw=0.8, label="import boto3 (CPU)")
        ax.axvline(cold["boto3_import_cpu_ms"] * 1.3, color="r", ls=":", lw=0.8, label="1.3x boto3")
        ax.set_xlabel("ms (median, fresh interpreter)")
        ax.set_title("2. Cold start per function")
        ax.legend(fontsize=7)
    ax = axes[1][1]
    em = r.get("emulator")
    if em and em.get("broadcast"):
        bs = em["broadcast"]
        xs = [b["connected"] for b in bs]
        ax.plot(xs, [b["all_received_p50_ms"] for b in bs], "o-", label="all received p50")
        ax.plot(xs, [b["all_received_p99_ms"] for b in bs], "o--", label="all received p99")
        ax.plot(xs, [b["recipient_p50_ms"] for b in bs], "^-", label="per recipient p50")
        ax.set_xlabel("connected clients")
        ax.set_ylabel("ms")
        e = em["echo"]["$default"]
        ax.set_title(f"3. Emulator broadcast latency; echo {e['msgs_per_s']} msg/s, p50 {e['rtt_p50_ms']} ms")
        ax.legend(fontsize=7)
    _plot_cost(r, axes[2][0], axes[2][1])
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_cost(r: dict[str, Any], left: Any, right: Any) -> None:
    cost, base = r.get("cost"), r.get("baseline") or {}
    if not cost:
        return
    parts = ("lambda", "dynamodb", "websocket_messages", "connection_minutes")
    labels = [f"{d['recipients']}" for d in cost["dollars"]]
    xs = range(len(labels))
    width = 0.38
    for offset, who in ((-width / 2, "ours"), (width / 2, "seed")):
        bottom = [0.0] * len(labels)
        for part in parts:
            values = [d[f"{who}_per_million"][part] for d in cost["dollars"]]
            left.bar([x + offset for x in xs], values, width, bottom=bottom,
                     label=f"{who}: {part.replace('_', ' ')}", hatch="//" if who == "seed" else None)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    left.set_xticks(list(xs), labels)
    left.set_xlabel("room message recipients")
    left.set_ylabel("USD per million deliveries")
    left.set_title("6. Cost per million deliveries (left bar ours, right seed)")
    left.legend(fontsize=6)
    before = {o["operation"]: o["requests"] for o in base.get("operations", [])}
    ops = [o for o in cost["operations"] if not o["operation"].startswith("broadcast to all")]
    ys = range(len(ops))
    right.barh([y + 0.2 for y in ys], [o["requests"] for o in ops], 0.4, label="now")
    if before:
        right.barh([y - 0.2 for y in ys], [before.get(o["operation"], 0) for o in ops], 0.4,
                   label=f"before ({base.get('ref')})")
    right.set_yticks(list(ys), [o["operation"] for o in ops], fontsize=7)
    right.set_xlabel("DynamoDB requests per operation")
    right.set_title("5. DynamoDB requests per operation")
    right.legend(fontsize=7)
