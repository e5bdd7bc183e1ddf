// Sluice's dashboard: reads the admin plane's /status (JSON) and /metrics (OpenMetrics text)
// every two seconds and draws them. No outside service, no build step (docs/observability.md).
"use strict";

const POLL_MS = 2000;
const KEEP = 150; // points in the rate chart: five minutes
const COLORS = ["#2563eb", "#db2777", "#059669", "#d97706", "#7c3aed", "#0891b2", "#dc2626", "#65a30d"];

let previous = null; // { time, samples } of the last scrape
const rateHistory = new Map(); // route -> [requests per second]

// ---- OpenMetrics text ------------------------------------------------------------------------

function parseLabels(text) {
  const labels = {};
  const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  let m;
  while ((m = re.exec(text)) !== null) {
    labels[m[1]] = m[2].replace(/\\n/g, "\n").replace(/\\"/g, '"').replace(/\\\\/g, "\\");
  }
  return labels;
}

/** Samples by name: [{ labels, value }]. */
function parseMetrics(text) {
  const samples = new Map();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const brace = line.indexOf("{");
    const space = brace >= 0 ? line.indexOf(" ", line.lastIndexOf("}")) : line.indexOf(" ");
    const name = line.slice(0, brace >= 0 ? brace : space);
    const labels = brace >= 0 ? parseLabels(line.slice(brace + 1, line.lastIndexOf("}"))) : {};
    const value = parseFloat(line.slice(space + 1).split(" ")[0]);
    if (!samples.has(name)) samples.set(name, []);
    samples.get(name).push({ labels, value });
  }
  return samples;
}

function series(samples, name) {
  return samples.get(name) || [];
}

/** Sum of `name` grouped by the label `by`, over samples passing `keep`. */
function sumBy(samples, name, by, keep = () => true) {
  const out = new Map();
  for (const s of series(samples, name)) {
    if (!keep(s.labels)) continue;
    const key = typeof by === "function" ? by(s.labels) : s.labels[by];
    out.set(key, (out.get(key) || 0) + s.value);
  }
  return out;
}

/** A quantile of a histogram's buckets ([{le, count}], cumulative), interpolated. */
function quantile(q, buckets) {
  buckets.sort((a, b) => a.le - b.le);
  const total = buckets.length ? buckets[buckets.length - 1].count : 0;
  if (total <= 0) return null;
  const rank = q * total;
  let lowerLe = 0, lowerCount = 0;
  for (const b of buckets) {
    if (b.count >= rank) {
      if (!isFinite(b.le)) return lowerLe;
      const span = b.count - lowerCount;
      return span > 0 ? lowerLe + (b.le - lowerLe) * (rank - lowerCount) / span : b.le;
    }
    lowerLe = b.le;
    lowerCount = b.count;
  }
  return lowerLe;
}

/** Per route: the duration buckets, as counts since the last scrape when there was one. */
function routeBuckets(now, before) {
  const out = new Map();
  const old = new Map();
  if (before) {
    for (const s of series(before, "sluice_request_duration_seconds_bucket")) {
      old.set(s.labels.route + "|" + s.labels.le, s.value);
    }
  }
  for (const s of series(now, "sluice_request_duration_seconds_bucket")) {
    const le = s.labels.le === "+Inf" ? Infinity : parseFloat(s.labels.le);
    const count = s.value - (old.get(s.labels.route + "|" + s.labels.le) || 0);
    if (!out.has(s.labels.route)) out.set(s.labels.route, []);
    out.get(s.labels.route).push({ le, count });
  }
  return out;
}

// ---- drawing ---------------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function svg(tag, attrs = {}) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

function fmt(n, digits = 0) {
  if (n === null || n === undefined || !isFinite(n)) return "–";
  return n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function ms(seconds) {
  return seconds === null ? "–" : fmt(seconds * 1000, seconds < 0.01 ? 2 : 1) + " ms";
}

function legend(entries) {
  const box = el("div", { class: "legend" });
  entries.forEach(([name, color]) => {
    box.append(el("span", {}, el("span", { class: "swatch", style: `background:${color}` }), name));
  });
  return box;
}

/** Lines of `history` (name -> values), newest last. */
function lineChart(figure, history) {
  const W = 600, H = 180, P = 30;
  const all = [...history.values()].flat();
  const max = Math.max(1, ...all);
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", preserveAspectRatio: "none" });
  chart.append(svg("line", { x1: P, y1: H - P, x2: W, y2: H - P, stroke: "#ccd", "vector-effect": "non-scaling-stroke" }));
  chart.append(svg("line", { x1: P, y1: P, x2: W, y2: P, stroke: "#eef", "vector-effect": "non-scaling-stroke" }));
  const names = [...history.keys()];
  names.forEach((name, i) => {
    const values = history.get(name);
    const step = (W - P) / (KEEP - 1);
    const offset = KEEP - values.length;
    const points = values.map((v, j) => `${P + (offset + j) * step},${H - P - (v / max) * (H - 2 * P)}`);
    chart.append(svg("polyline", { points: points.join(" "), fill: "none", stroke: COLORS[i % COLORS.length], "stroke-width": 2, "vector-effect": "non-scaling-stroke" }));
  });
  const scale = el("span", { class: "muted" }, `top line: ${fmt(max, max < 10 ? 1 : 0)} req/s · last ${KEEP * POLL_MS / 60000} minutes`);
  figure.replaceChildren(chart, legend(names.map((n, i) => [n, COLORS[i % COLORS.length]])), scale);
}

/** Horizontal stacked bars: rows of [label, [[part, value]…]]. */
function barChart(figure, rows, partColors) {
  const W = 600, rowH = 26, P = 170;
  const H = Math.max(rowH, rows.length * rowH) + 6;
  const max = Math.max(1, ...rows.map(([, parts]) => parts.reduce((a, [, v]) => a + v, 0)));
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", style: `height:${H}px` });
  let total = 0;
  rows.forEach(([label, parts], i) => {
    const y = i * rowH + 4;
    const name = svg("text", { x: 0, y: y + 15, "font-size": 12, fill: "#334" });
    name.textContent = label.length > 26 ? label.slice(0, 25) + "…" : label;
    chart.append(name);
    let x = P;
    for (const [part, value] of parts) {
      const w = (value / max) * (W - P - 60);
      chart.append(svg("rect", { x, y, width: Math.max(w, 0), height: rowH - 8, fill: partColors[part] }));
      x += w;
      total += value;
    }
    const sum = svg("text", { x: x + 4, y: y + 15, "font-size": 11, fill: "#667" });
    sum.textContent = fmt(parts.reduce((a, [, v]) => a + v, 0));
    chart.append(sum);
  });
  figure.dataset.total = String(total);
  figure.replaceChildren(chart, legend(Object.entries(partColors)));
}

function fillTable(id, rows) {
  const body = document.querySelector(`#${id} tbody`);
  body.replaceChildren(...rows);
  if (rows.length === 0) {
    const cols = document.querySelectorAll(`#${id} thead th`).length;
    body.append(el("tr", {}, el("td", { colspan: cols, class: "muted" }, "nothing yet")));
  }
}

function td(value, cls) {
  return el("td", cls ? { class: cls } : {}, value);
}

// ---- status ----------------------------------------------------------------------------------

/** Every `conditions` list under a resource's status, with where it was found. */
function conditionsOf(status, where = "", out = []) {
  if (Array.isArray(status)) {
    status.forEach((v) => conditionsOf(v, where, out));
  } else if (status && typeof status === "object") {
    if (Array.isArray(status.conditions)) {
      for (const c of status.conditions) out.push({ where, ...c });
    }
    const here = status.name || (status.parentRef && status.parentRef.name) || (status.ancestorRef && status.ancestorRef.name) || where;
    for (const [k, v] of Object.entries(status)) {
      if (k !== "conditions") conditionsOf(v, here, out);
    }
  }
  return out;
}

/** Whether a condition says all is well: `True`, except for the types whose `True` is bad. */
function healthy(c) {
  const abnormalTrue = ["Conflicted", "Degraded"];
  return abnormalTrue.includes(c.type) ? c.status !== "True" : c.status === "True";
}

function renderStatus(st) {
  const cfg = st.config || {};
  const problems = st.problems || [];
  const errors = [...(cfg.last_errors || []), ...(cfg.bind_errors || [])];
  const config = document.getElementById("config");
  const failed = (cfg.last_errors || []).length > 0;
  const lines = [
    el("p", {}, `Configuration version ${cfg.version}; last load `,
      el("span", { class: failed ? "bad" : "ok" }, failed ? "failed (the previous configuration is served)" : "succeeded"), "."),
  ];
  if (errors.length || problems.length) {
    lines.push(el("ul", { class: "problems" }, ...[...errors, ...problems].slice(0, 50).map((p) => el("li", {}, p))));
  } else {
    lines.push(el("p", { class: "muted" }, "No configuration errors."));
  }
  config.replaceChildren(...lines);

  const resources = st.resources || [];
  fillTable("resources", resources.map((r) => {
    const name = (r.metadata.namespace ? r.metadata.namespace + "/" : "") + r.metadata.name;
    const conds = conditionsOf(r.status).map((c) => el("span", {
      class: "cond" + (healthy(c) ? "" : " false"),
      title: (c.where ? c.where + ": " : "") + (c.message || ""),
    }, `${c.type}: ${c.reason || c.status}`));
    return el("tr", {}, td(r.kind), td(name), el("td", {}, ...conds));
  }));
}

// ---- metrics ---------------------------------------------------------------------------------

function renderMetrics(now, before, dt, mcpTargets) {
  // Routes.
  const totals = sumBy(now, "sluice_requests_total", "route");
  const errors = sumBy(now, "sluice_requests_total", "route", (l) => l.code.startsWith("5"));
  const oldTotals = before ? sumBy(before, "sluice_requests_total", "route") : new Map();
  const oldErrors = before ? sumBy(before, "sluice_requests_total", "route", (l) => l.code.startsWith("5")) : new Map();
  const buckets = routeBuckets(now, null);
  const routes = [...totals.keys()].filter((r) => r !== "-").sort();
  for (const route of routes) {
    const rate = before && dt > 0 ? Math.max(0, totals.get(route) - (oldTotals.get(route) || 0)) / dt : 0;
    if (!rateHistory.has(route)) rateHistory.set(route, []);
    const h = rateHistory.get(route);
    h.push(rate);
    if (h.length > KEEP) h.shift();
  }
  lineChart(document.getElementById("rate-chart"), rateHistory);
  fillTable("routes", routes.map((route) => {
    const h = rateHistory.get(route) || [];
    const total = totals.get(route);
    const recent = total - (oldTotals.get(route) || 0);
    const recentErrors = (errors.get(route) || 0) - (oldErrors.get(route) || 0);
    const ratio = before ? (recent > 0 ? recentErrors / recent : 0) : (errors.get(route) || 0) / total;
    const b = buckets.get(route) || [];
    return el("tr", { "data-route": route },
      td(route), td(fmt(total), "num"), td(fmt(h[h.length - 1] || 0, 1), "num"),
      td(fmt(ratio * 100, 1) + " %", "num" + (ratio > 0 ? " bad" : "")),
      td(ms(quantile(0.5, b.map((x) => ({ ...x })))), "num"), td(ms(quantile(0.99, b.map((x) => ({ ...x })))), "num"));
  }));

  // Tokens and cost by model.
  const key = (l) => `${l.provider}|${l.model}`;
  const input = sumBy(now, "sluice_ai_tokens_total", key, (l) => l.class === "input");
  const output = sumBy(now, "sluice_ai_tokens_total", key, (l) => l.class === "output");
  const cost = sumBy(now, "sluice_ai_cost_usd_total", key);
  const models = [...new Set([...input.keys(), ...output.keys()])].sort();
  barChart(document.getElementById("token-chart"),
    models.map((k) => [k.split("|")[1], [["input", input.get(k) || 0], ["output", output.get(k) || 0]]]),
    { input: COLORS[0], output: COLORS[1] });
  fillTable("models", models.map((k) => {
    const [provider, model] = k.split("|");
    return el("tr", { "data-model": model }, td(provider), td(model), td(fmt(input.get(k) || 0), "num"),
      td(fmt(output.get(k) || 0), "num"), td(cost.has(k) ? fmt(cost.get(k), 6) : "–", "num"));
  }));

  // MCP targets: their state from /status, their requests and tools from the metrics.
  const byTarget = sumBy(now, "mcp_requests_total", "target");
  const failed = sumBy(now, "mcp_requests_total", "target", (l) => l.result === "error");
  const tools = new Map();
  for (const s of series(now, "mcp_requests_total")) {
    if (s.labels.tool && s.labels.tool !== "-") {
      if (!tools.has(s.labels.target)) tools.set(s.labels.target, new Set());
      tools.get(s.labels.target).add(s.labels.tool);
    }
  }
  // Targets requests have reached, with their state from /status.
  const targets = new Map();
  for (const t of mcpTargets) targets.set(t.target, t);
  for (const t of byTarget.keys()) if (t !== "-" && !targets.has(t)) targets.set(t, null);
  fillTable("mcp", [...targets.keys()].sort().map((t) => {
    const h = targets.get(t);
    const cls = !h ? "muted" : h.state === "up" ? "ok" : h.state === "down" ? "bad" : "muted";
    const health = el("span", { class: cls, title: (h && h.detail) || "" }, h ? h.state : "–");
    return el("tr", { "data-target": t }, td(t), el("td", {}, health), td([...(tools.get(t) || [])].join(", ") || "–"),
      td(fmt(byTarget.get(t) || 0), "num"), td(fmt(failed.get(t) || 0), "num" + ((failed.get(t) || 0) > 0 ? " bad" : "")));
  }));
  const sessions = series(now, "mcp_sessions_open")[0];
  document.getElementById("sessions").textContent = `${fmt(sessions ? sessions.value : 0)} MCP sessions open`;

  const reqs = [...totals.values()].reduce((a, b) => a + b, 0);
  const tokens = [...input.values(), ...output.values()].reduce((a, b) => a + b, 0);
  document.getElementById("summary").textContent =
    `${fmt(routes.length)} routes · ${fmt(reqs)} requests · ${fmt(tokens)} tokens · ${fmt(targets.size)} MCP targets`;
}

// ---- usage by identity -------------------------------------------------------------------------

/** The largest users from `/usage` (identities are never metric labels, so not in /metrics). */
function renderUsage(usage) {
  const name = (r) => r.identity === null ? "(no identity)" : r.identity;
  const rows = usage.identities.slice(0, 10);
  barChart(document.getElementById("identity-chart"),
    rows.map((r) => [name(r), [["input", r.input_tokens], ["output", r.output_tokens]]]),
    { input: COLORS[0], output: COLORS[1] });
  fillTable("identities", rows.map((r) => el("tr", { "data-identity": name(r) }, td(name(r)),
    td(fmt(r.requests), "num"), td(fmt(r.input_tokens), "num"), td(fmt(r.output_tokens), "num"),
    td(fmt(r.cost_usd, 6), "num"))));
  const o = usage.others;
  document.getElementById("identity-note").textContent = o.requests > 0
    ? `others: ${fmt(o.requests)} requests, ${fmt(o.input_tokens + o.output_tokens)} tokens, ${fmt(o.cost_usd, 6)} USD`
    : `${fmt(usage.tracked)} ${usage.tracked === 1 ? "identity" : "identities"} seen (up to ${fmt(usage.limit)} kept by name)`;
}

// ---- polling ---------------------------------------------------------------------------------

async function fetchText(path) {
  const r = await fetch(path, { cache: "no-store" });
  if (!r.ok) throw new Error(`${path}: ${r.status}`);
  return r.text();
}

async function tick() {
  try {
    const [statusText, metricsText, usageText] =
      await Promise.all([fetchText("/status"), fetchText("/metrics"), fetchText("/usage?top=10")]);
    const time = Date.now() / 1000;
    const samples = parseMetrics(metricsText);
    const status = JSON.parse(statusText);
    renderStatus(status);
    const dt = previous ? time - previous.time : 0;
    renderMetrics(samples, previous && previous.samples, dt, status.mcp_targets || []);
    renderUsage(JSON.parse(usageText));
    previous = { time, samples };
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (e) {
    document.getElementById("updated").textContent = "cannot reach the admin plane: " + e.message;
  }
}

tick();
setInterval(tick, POLL_MS);
