// Echo/ack load client for `make bench` section 3a (bench-only; run by bench/echo_node.py).
// Node's `ws` client: a load generator that costs far less CPU per frame than a Python client,
// so the figure measures the stack rather than the client sharing its cores.
// argv[2]: JSON {urls: [...], frame: "...", warmupMsgs, latencyMsgs, pipelinedMsgs, window, replyType, timeoutMs}
// (per client: warmupMsgs unrecorded round trips, latencyMsgs recorded ones, then pipelinedMsgs with
// `window` in flight)
// stdout: JSON {rtts_ms: [...], pipelined: n, elapsed_s, errors: [...]}
"use strict";
const WebSocket = require("ws");

const spec = JSON.parse(process.argv[2]);
const hr = () => Number(process.hrtime.bigint()) / 1e6;

function open(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

function checkReply(data) {
  if (spec.replyType === null) return;
  const frame = JSON.parse(data);
  if (frame.type !== spec.replyType) throw new Error(`unexpected reply ${data}`);
}

function closedLoop(ws) {
  return new Promise((resolve, reject) => {
    const rtts = [];
    const total = (spec.warmupMsgs || 0) + spec.latencyMsgs;
    let done = 0;
    let t0 = 0;
    if (total === 0) { resolve(rtts); return; }
    ws.on("message", (data) => {
      const rtt = hr() - t0;
      try { checkReply(data); } catch (e) { reject(e); return; }
      done += 1;
      if (done > (spec.warmupMsgs || 0)) rtts.push(rtt);
      if (done === total) { ws.removeAllListeners("message"); resolve(rtts); return; }
      t0 = hr();
      ws.send(spec.frame);
    });
    t0 = hr();
    ws.send(spec.frame);
  });
}

function pipelined(ws) {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let got = 0;
    if (spec.pipelinedMsgs === 0) { resolve(0); return; }
    ws.on("message", (data) => {
      try { checkReply(data); } catch (e) { reject(e); return; }
      got += 1;
      if (got === spec.pipelinedMsgs) { ws.removeAllListeners("message"); resolve(got); return; }
      if (sent < spec.pipelinedMsgs) { sent += 1; ws.send(spec.frame); }
    });
    while (sent < Math.min(spec.window, spec.pipelinedMsgs)) { sent += 1; ws.send(spec.frame); }
  });
}

async function main() {
  const timer = setTimeout(() => { console.error("echo client: timed out"); process.exit(3); }, spec.timeoutMs);
  const sockets = await Promise.all(spec.urls.map(open));
  const rtts = (await Promise.all(sockets.map(closedLoop))).flat();
  const t0 = hr();
  const counts = await Promise.all(sockets.map(pipelined));
  const elapsed = (hr() - t0) / 1000;
  await Promise.all(sockets.map((ws) => new Promise((resolve) => { ws.once("close", resolve); ws.close(1000); })));
  clearTimeout(timer);
  process.stdout.write(JSON.stringify({ rtts_ms: rtts, pipelined: counts.reduce((a, b) => a + b, 0), elapsed_s: elapsed }));
}

main().catch((e) => { console.error(`echo client: ${e.stack || e}`); process.exit(2); });
