// The functions' metrics on the local stack (GET /_local/metrics.json): what they printed in CloudWatch's
// embedded metric format, counted as CloudWatch counts it. Used by the demo page's panel and by the
// /_local/metrics page. Plain JS, no build step.
"use strict";

const HEADLINE = ["MessagesSent", "DeliveriesDelivered", "DeliveriesGone", "DeliveriesFailed", "FanoutContinuations",
                  "DuplicateMessages", "RateLimited", "Throttled", "AuthorizerDenials"];

function metricsCell(tag, text, cls) {
  const el = document.createElement(tag);
  el.textContent = text;
  if (cls) el.className = cls;
  return el;
}

function formatNumber(v) {
  if (v === null || v === undefined) return "–";
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

function renderHeadline(container, snapshot) {
  container.replaceChildren(...HEADLINE.map((name) => {
    const box = metricsCell("div", "", "metric");
    box.dataset.metric = name;
    box.append(metricsCell("span", formatNumber(snapshot.totals[name] || 0), "value"),
               metricsCell("span", name, "name"));
    return box;
  }));
}

function renderTable(table, snapshot) {
  const head = metricsCell("tr", "");
  for (const h of ["metric", "dimensions", "unit", "sum", "samples", "min", "max", "p50", "p99"]) {
    head.append(metricsCell("th", h));
  }
  const rows = snapshot.metrics.map((m) => {
    const tr = metricsCell("tr", "");
    tr.dataset.metric = m.name;
    const dims = Object.entries(m.dimensions).map(([k, v]) => `${k}=${v}`).join(" ");
    for (const value of [m.name, dims, m.unit, formatNumber(m.sum), String(m.sampleCount), formatNumber(m.minimum),
                         formatNumber(m.maximum), formatNumber(m.p50), formatNumber(m.p99)]) {
      tr.append(metricsCell("td", value));
    }
    return tr;
  });
  table.replaceChildren(head, ...rows);
}

function renderSummary(el, snapshot) {
  const since = new Date(snapshot.since * 1000).toLocaleTimeString();
  let text = `${snapshot.documents} EMF documents since ${since}`;
  if (snapshot.rejected) text += ` · ${snapshot.rejected} rejected (${snapshot.lastRejection})`;
  el.textContent = text;
}

// Polls the endpoint and renders into whichever of the given elements exist; one request in flight.
function watchMetrics({ headline, table, summary, intervalMs = 1000 }) {
  let busy = false;
  async function tick() {
    if (busy) return;
    busy = true;
    try {
      const response = await fetch("/_local/metrics.json", { cache: "no-store" });
      if (response.ok) {
        const snapshot = await response.json();
        if (headline) renderHeadline(headline, snapshot);
        if (table) renderTable(table, snapshot);
        if (summary) renderSummary(summary, snapshot);
      }
    } catch (e) {
      if (summary) summary.textContent = `metrics unavailable: ${e}`;
    } finally {
      busy = false;
    }
  }
  tick();
  return setInterval(tick, intervalMs);
}

async function resetMetrics() {
  await fetch("/_local/metrics.json", { method: "DELETE" });
}
