// Echo/ack load client for `make bench` section 3a (bench-only; run by bench/echo_node.py).
// Node's `ws` client: a load generator that costs far less CPU per frame than a Python client,
// so the figure measures the stack rather than the client sharing its cores.
// argv[2]: JSON {urls: [...], frame: "...", warmupMsgs, latencyMsgs, pipelinedMsgs, window, replyType, stallMs,
// deliveryType, deliveriesPerMessage}
// (per client: warmupMsgs unrecorded round trips, latencyMsgs recorded ones, then pipelinedMsgs with
// `window` in flight). With deliveryType (e.g. "message": the clients share a room and each frame is
// delivered to the others), frames of that type are deliveries, not replies: they are counted, and the
// run waits for deliveriesPerMessage of them per pipelined frame before it stops the clock.
// stdout: JSON {rtts_ms: [...], pipelined: n, elapsed_s, deliveries, deliveries_elapsed_s}
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

// A stall watchdog, not a deadline: the run fails only when no frame at all arrived for stallMs (a
// loaded machine makes the run slower, never wrong).
let watchdog = null;
function progress() {
  if (watchdog) clearTimeout(watchdog);
  watchdog = setTimeout(() => {
    console.error(`echo client: no frame for ${spec.stallMs} ms (stalled)`);
    process.exit(3);
  }, spec.stallMs);
}

// One listener per socket for the whole run: deliveries are counted, replies go to the phase's handler.
const deliveries = { pipelined: 0, expected: 0, last: 0, t0: 0, counting: false, onDone: null };

function listen(ws) {
  ws.onReply = null;
  ws.on("message", (data) => {
    progress();
    if (spec.deliveryType) {
      const frame = JSON.parse(data);
      if (frame.type === spec.deliveryType) {
        if (deliveries.counting) {
          deliveries.pipelined += 1;
          deliveries.last = hr();
          if (deliveries.onDone && deliveries.pipelined >= deliveries.expected) deliveries.onDone();
        }
        return;
      }
    }
    if (ws.onReply) ws.onReply(data);
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
    ws.onReply = (data) => {
      const rtt = hr() - t0;
      try { checkReply(data); } catch (e) { reject(e); return; }
      done += 1;
      if (done > (spec.warmupMsgs || 0)) rtts.push(rtt);
      if (done === total) { ws.onReply = null; resolve(rtts); return; }
      t0 = hr();
      ws.send(spec.frame);
    };
    t0 = hr();
    ws.send(spec.frame);
  });
}

function pipelined(ws) {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let got = 0;
    if (spec.pipelinedMsgs === 0) { resolve(0); return; }
    ws.onReply = (data) => {
      try { checkReply(data); } catch (e) { reject(e); return; }
      got += 1;
      if (got === spec.pipelinedMsgs) { ws.onReply = null; resolve(got); return; }
      if (sent < spec.pipelinedMsgs) { sent += 1; ws.send(spec.frame); }
    };
    while (sent < Math.min(spec.window, spec.pipelinedMsgs)) { sent += 1; ws.send(spec.frame); }
  });
}

function allDelivered() {
  return new Promise((resolve) => {
    if (!spec.deliveryType || deliveries.pipelined >= deliveries.expected) { resolve(); return; }
    deliveries.onDone = resolve;
  });
}

async function main() {
  progress();
  const sockets = await Promise.all(spec.urls.map(open));
  sockets.forEach(listen);
  const rtts = (await Promise.all(sockets.map(closedLoop))).flat();
  deliveries.expected = spec.pipelinedMsgs * sockets.length * (spec.deliveriesPerMessage || 0);
  const t0 = hr();
  deliveries.counting = true;
  const counts = await Promise.all(sockets.map(pipelined));
  const elapsed = (hr() - t0) / 1000;
  await allDelivered();
  const deliveriesElapsed = (Math.max(deliveries.last, t0) - t0) / 1000;
  await Promise.all(sockets.map((ws) => new Promise((resolve) => { ws.once("close", resolve); ws.close(1000); })));
  clearTimeout(watchdog);
  process.stdout.write(JSON.stringify({ rtts_ms: rtts, pipelined: counts.reduce((a, b) => a + b, 0), elapsed_s: elapsed,
                                        deliveries: deliveries.pipelined, deliveries_elapsed_s: deliveriesElapsed }));
}

main().catch((e) => { console.error(`echo client: ${e.stack || e}`); process.exit(2); });
