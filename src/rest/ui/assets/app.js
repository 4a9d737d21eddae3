// The Punctual dashboard: a read-mostly view over the facade's REST routes. Every request carries
// the bearer token pasted on the sign-in form (kept in sessionStorage: this tab only), or none,
// so that a proxy's Authorization header applies. The server decides what the token may read.
// The DOM is built with createElement/textContent only (no innerHTML), so data cannot inject markup.
"use strict";

const TOKEN_KEY = "punctual.token";
const SVG_NS = "http://www.w3.org/2000/svg";
const MARKS = ["succeeded", "failed", "cancelled", "skipped", "missed", "running", "pending", "not_kept"];
const MARK_LABEL = {
  succeeded: "succeeded", failed: "failed", cancelled: "cancelled", skipped: "skipped",
  missed: "missed", running: "running", pending: "pending", not_kept: "no run kept",
};

// ---- small helpers ----
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}
function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}
const enc = encodeURIComponent;
// A message that outlives the re-render after a button changed something.
let flash = null;
function fmtTime(iso) {
  if (!iso) return "—";
  return iso.replace("T", " ").replace(/\.\d+Z$/, "Z");
}
function fmtRel(iso) {
  if (!iso) return "";
  const s = Math.round((Date.parse(iso) - Date.now()) / 1000);
  const a = Math.abs(s);
  const txt = a < 90 ? `${a} s` : a < 5400 ? `${Math.round(a / 60)} min` : a < 172800 ? `${Math.round(a / 3600)} h` : `${Math.round(a / 86400)} d`;
  return s >= 0 ? `in ${txt}` : `${txt} ago`;
}
function fmtSecs(x) {
  if (x === null || x === undefined) return "—";
  return x < 1 ? `${Math.round(x * 1000)} ms` : `${x.toFixed(x < 10 ? 2 : 1)} s`;
}
function pill(value, cls) {
  return el("span", { class: `pill ${cls || value}` }, MARK_LABEL[value] || value);
}
function schedule(a) {
  if (a.schedule_type === "cron") return el("code", {}, a.cron_expression || "");
  if (a.schedule_type === "one_time") return `once at ${fmtTime(a.scheduled_at)}`;
  return "manual";
}

// ---- the API ----
class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}
async function api(path, method = "GET") {
  const headers = { Accept: "application/json" };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(path, { method, headers, credentials: "same-origin" });
  let body = null;
  try { body = await res.json(); } catch (_) { body = null; }
  if (!res.ok) throw new ApiError(res.status, body);
  return body;
}
const prefix = (r) => `/v1/orgs/${enc(r.org)}/workspaces/${enc(r.ws)}/apps/${enc(r.app)}`;
async function allActions(r) {
  let out = [];
  let cursor = "";
  for (let page = 0; page < 20; page++) {
    const q = `?limit=100${cursor ? `&cursor=${enc(cursor)}` : ""}`;
    const list = await api(`${prefix(r)}/actions${q}`);
    out = out.concat(list.actions);
    if (!list.has_more || !list.next_cursor) break;
    cursor = list.next_cursor;
  }
  return out;
}

// ---- routing: #/ | #/{org}/{ws}/{app} | #/{org}/{ws}/{app}/{action} ----
function parseRoute() {
  const [path, query] = location.hash.replace(/^#\/?/, "").split("?");
  const [org, ws, app, action] = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { org, ws, app, action, hours: new URLSearchParams(query || "").get("hours") };
}
function href(r) {
  return "#/" + [r.org, r.ws, r.app, r.action].filter(Boolean).map(enc).join("/");
}
function crumbs(r) {
  const ol = document.getElementById("crumbs");
  ol.replaceChildren();
  const items = [["Workspaces", "#/"]];
  if (r.ws) items.push([`${r.org} / ${r.ws} / ${r.app}`, href({ org: r.org, ws: r.ws, app: r.app })]);
  if (r.action) items.push([r.action, href(r)]);
  items.forEach(([text, h], i) => {
    const last = i === items.length - 1;
    ol.append(el("li", {}, el("a", { href: h, "aria-current": last ? "page" : null }, text)));
  });
}
function session() {
  const box = document.getElementById("session");
  box.replaceChildren();
  if (sessionStorage.getItem(TOKEN_KEY)) {
    box.append(el("span", { class: "muted" }, "token set"),
      el("button", { type: "button", onclick: () => { sessionStorage.removeItem(TOKEN_KEY); render(); } }, "Sign out"));
  }
}
function setMain(title, ...children) {
  document.title = title ? `${title} · Punctual` : "Punctual";
  const main = document.getElementById("main");
  main.replaceChildren(...children);
  return main;
}
function showError(e) {
  if (e instanceof ApiError && e.status === 401) return signIn("Your token was not accepted (401). Paste a valid token.");
  const detail = e instanceof ApiError && e.status === 403
    ? `Forbidden (403): your token may not ${(e.body && e.body.details && e.body.details.required_permission) || "read this"}.`
    : e instanceof ApiError && e.status === 404 ? "Not found (404) in this org, workspace and app."
      : `Error: ${e.message}`;
  setMain("Error", el("h1", {}, "Cannot show this page"), el("p", { class: "error", role: "alert" }, detail),
    el("p", {}, el("a", { href: "#/" }, "Back to the workspaces")));
}

// ---- sign in ----
function signIn(reason) {
  crumbs({});
  session();
  const input = el("input", { type: "password", id: "token", name: "token", autocomplete: "off", required: true,
    "aria-describedby": "token-help" });
  const form = el("form", { class: "panel", onsubmit: (ev) => {
    ev.preventDefault();
    const t = input.value.trim();
    if (t) { sessionStorage.setItem(TOKEN_KEY, t); render(); }
  } },
  el("label", { for: "token" }, "Kubernetes bearer token"),
  input,
  el("p", { id: "token-help", class: "muted" },
    "The same token as for the REST API (e.g. kubectl create token NAME). It is kept in this browser tab only and sent to this server only."),
  el("button", { type: "submit", class: "primary" }, "Sign in"));
  setMain("Sign in", el("h1", {}, "Sign in"), reason ? el("p", { class: "error", role: "alert" }, reason) : null, form);
  input.focus();
}

// ---- workspaces ----
async function renderHome() {
  const list = await api("/v1/workspaces");
  const items = [];
  for (const w of list.workspaces) {
    for (const app of w.apps) {
      items.push(el("li", {}, el("a", { href: href({ org: w.org_id, ws: w.workspace_id, app }) },
        `${w.org_id} / ${w.workspace_id} / ${app}`)));
    }
    if (w.apps.length === 0) items.push(el("li", {}, `${w.org_id} / ${w.workspace_id} `, el("span", { class: "muted" }, "(no Actions)")));
  }
  setMain("Workspaces", el("h1", {}, "Workspaces"),
    items.length ? el("ul", { id: "workspaces" }, items)
      : el("p", { id: "no-workspaces" }, "Your token may read no workspace."));
}

// ---- one app: overview and Actions ----
function barChart(buckets) {
  const w = 1000, h = 150, pad = 28;
  const max = Math.max(1, ...buckets.map((b) => b.finished));
  const bw = (w - pad - 8) / buckets.length;
  const g = svg("svg", { viewBox: `0 0 ${w} ${h}`, class: "chart", role: "img",
    "aria-label": `Finished runs per minute over the last ${buckets.length - 1} minutes; at most ${max} in a minute` });
  g.append(svg("line", { class: "axis", x1: pad, y1: h - 18, x2: w - 4, y2: h - 18 }));
  g.append(svg("text", { x: 2, y: 14 }, String(max)), svg("text", { x: 2, y: h - 20 }, "0"));
  buckets.forEach((b, i) => {
    const x = pad + i * bw;
    const ok = b.finished - b.failed;
    const hOk = ((h - 40) * ok) / max, hFail = ((h - 40) * b.failed) / max;
    const tip = `${fmtTime(b.minute)}: ${b.finished} finished, ${b.failed} failed`;
    if (ok) g.append(svg("rect", { x, y: h - 18 - hOk, width: Math.max(1, bw - 1), height: hOk, fill: "var(--succeeded)" }, svg("title", {}, tip)));
    if (b.failed) g.append(svg("rect", { x, y: h - 18 - hOk - hFail, width: Math.max(1, bw - 1), height: hFail, fill: "var(--failed)" }, svg("title", {}, tip)));
  });
  if (buckets.length) {
    g.append(svg("text", { x: pad, y: h - 4 }, fmtTime(buckets[0].minute).slice(11, 16)));
    g.append(svg("text", { x: w - 40, y: h - 4 }, fmtTime(buckets[buckets.length - 1].minute).slice(11, 16)));
  }
  return g;
}
function card(label, value, id) {
  return el("div", { class: "card", id }, el("div", { class: "value" }, value), el("div", { class: "label" }, label));
}
async function renderApp(r) {
  const [actions, ov] = await Promise.all([allActions(r), api(`${prefix(r)}/overview?minutes=60`)]);
  const health = new Map(ov.actions.map((h) => [h.action_id, h]));
  const filter = el("input", { type: "search", id: "filter", placeholder: "name or id", "aria-controls": "actions" });
  const tbody = el("tbody");
  const count = el("p", { id: "shown", class: "muted", "aria-live": "polite" });
  const rows = actions.map((a) => {
    const hl = health.get(a.action_id) || {};
    const ready = hl.ready === true ? pill("yes", "yes") : hl.ready === false ? pill("no", "no") : el("span", { class: "muted" }, "—");
    const next = (hl.upcoming || []).map((t) => el("div", { class: "mono", title: fmtRel(t) }, fmtTime(t)));
    const tr = el("tr", { "data-action": a.action_id },
      el("td", {}, el("a", { href: href({ ...r, action: a.action_id }) }, a.name), el("div", { class: "muted mono" }, a.action_id)),
      el("td", {}, schedule(a)),
      el("td", { class: "hide-narrow" }, a.timezone),
      el("td", {}, a.is_enabled ? "enabled" : "disabled"),
      el("td", { title: hl.ready_reason || "" }, ready),
      el("td", { class: "hide-narrow" }, next.length ? next : el("span", { class: "muted" }, "—")),
      el("td", {}, a.last_run_status ? pill(a.last_run_status) : el("span", { class: "muted" }, "none")),
      el("td", { class: "num" }, String(a.total_runs)),
      el("td", { class: "num" }, String(a.successful_runs)),
      el("td", { class: "num" }, String(a.failed_runs)),
      el("td", { class: "num hide-narrow" }, String(hl.skipped_runs ?? 0)),
      el("td", { class: "num hide-narrow" }, String(hl.missed_runs ?? 0)));
    tr.dataset.search = `${a.name} ${a.action_id}`.toLowerCase();
    return tr;
  });
  const apply = () => {
    const q = filter.value.trim().toLowerCase();
    let shown = 0;
    for (const tr of rows) {
      const on = !q || tr.dataset.search.includes(q);
      tr.hidden = !on;
      if (on) shown++;
    }
    count.textContent = `${shown} of ${rows.length} Actions shown`;
  };
  filter.addEventListener("input", apply);
  tbody.append(...rows);
  apply();
  const lag = ov.lag_seconds;
  const rate = ov.failure_rate === null ? "—" : `${(ov.failure_rate * 100).toFixed(1)} %`;
  const perMin = ov.runs_per_minute.length ? (ov.finished.succeeded + ov.finished.failed + ov.finished.cancelled) / ov.window_minutes : 0;
  setMain(`${r.app} in ${r.ws}`,
    el("h1", {}, `${r.app}`, el("span", { class: "muted" }, ` in ${r.org} / ${r.ws}`)),
    el("section", { "aria-labelledby": "ov-h" },
      el("h2", { id: "ov-h" }, `Last ${ov.window_minutes} minutes`),
      el("div", { class: "cards" },
        card("runs per minute", perMin.toFixed(2), "ov-rate"),
        card("succeeded", String(ov.finished.succeeded), "ov-succeeded"),
        card("failed", String(ov.finished.failed), "ov-failed"),
        card("failure rate", rate, "ov-failure-rate"),
        card(`lag p50 / p90 / p99 (${lag.samples} runs)`, `${fmtSecs(lag.p50)} / ${fmtSecs(lag.p90)} / ${fmtSecs(lag.p99)}`, "ov-lag")),
      barChart(ov.runs_per_minute),
      el("p", { class: "muted" }, "Counted from the runs still kept (history limits remove older ones).")),
    el("section", { "aria-labelledby": "act-h" },
      el("h2", { id: "act-h" }, "Actions"),
      el("div", { class: "row" }, el("div", {}, el("label", { for: "filter" }, "Filter by name"), filter)),
      count,
      el("div", { class: "table-wrap" }, el("table", { id: "actions" },
        el("caption", { class: "skip" }, "Actions of this app"),
        el("thead", {}, el("tr", {},
          ["Name", "Schedule", "Zone", "Enabled", "Ready", "Next fire times", "Last status", "Runs", "Succeeded", "Failed", "Skipped", "Missed"]
            .map((h, i) => el("th", { scope: "col", class: [null, null, "hide-narrow", null, null, "hide-narrow", null, "num", "num", "num", "num hide-narrow", "num hide-narrow"][i] }, h)))),
        tbody))));
}

// ---- one Action ----
function timelineChart(tl, createdAt) {
  const w = 1000, h = 96, left = 8, right = 8;
  const to = Date.parse(tl.to);
  // Nothing happened before the Action existed: start the axis a minute before its creation.
  const from = Math.max(Date.parse(tl.from), Date.parse(createdAt) - 60000);
  const x = (iso) => left + ((Date.parse(iso) - from) / (to - from)) * (w - left - right);
  const g = svg("svg", { viewBox: `0 0 ${w} ${h}`, class: "chart", id: "timeline-chart", role: "img",
    "aria-label": `Slots over the last ${tl.window_hours} hours: ` +
      Object.entries(tl.marks).map(([m, n]) => `${n} ${MARK_LABEL[m] || m}`).join(", ") });
  g.append(svg("line", { class: "axis", x1: left, y1: 66, x2: w - right, y2: 66 }));
  const ticks = 6;
  for (let i = 0; i <= ticks; i++) {
    const t = from + ((to - from) * i) / ticks;
    const tx = left + ((w - left - right) * i) / ticks;
    g.append(svg("line", { class: "grid", x1: tx, y1: 8, x2: tx, y2: 66 }));
    const d = new Date(t).toISOString();
    const span = to - from;
    const label = span <= 900000 ? d.slice(11, 19) : span <= 86400000 ? d.slice(11, 16) : `${d.slice(5, 10)} ${d.slice(11, 13)}h`;
    g.append(svg("text", { x: Math.min(Math.max(tx - 14, 0), w - 60), y: 86 }, label));
  }
  const width = Math.max(2, Math.min(10, (w - left - right) / Math.max(tl.slots.length, 1) - 1));
  for (const s of tl.slots) {
    const kept = s.mark !== "not_kept";
    g.append(svg("rect", {
      x: x(s.at) - width / 2, y: kept ? 14 : 40, width, height: kept ? 52 : 26, rx: 1,
      fill: `var(--${s.mark})`, class: `mark ${s.mark}`, "data-mark": s.mark,
    }, svg("title", {}, `${fmtTime(s.at)}: ${MARK_LABEL[s.mark]}${s.run_id ? ` (${s.run_id}, ${s.attempts} attempt(s))` : ""}${s.trigger_type === "manual" ? ", manual" : ""}`)));
  }
  return g;
}
function plot(points) {
  const w = 1000, h = 220, left = 56, right = 12, top = 10, bottom = 28;
  const g = svg("svg", { viewBox: `0 0 ${w} ${h}`, class: "chart", id: "lag-plot", role: "img",
    "aria-label": `Schedule lag and duration of ${points.length} runs` });
  if (!points.length) {
    g.append(svg("text", { x: left, y: h / 2 }, "No run started in this window."));
    return g;
  }
  const ts = points.map((p) => Date.parse(p.at));
  // Half a minute either side, so that a lone point is not drawn on the axis.
  const t0 = Math.min(...ts) - 30000, t1 = Math.max(...ts) + 30000;
  const vals = points.flatMap((p) => [p.lag_seconds, p.duration_seconds]).filter((v) => v !== null && v !== undefined);
  const vmax = Math.max(0.001, ...vals) * 1.1;
  const vmin = Math.min(0, ...vals);
  const X = (t) => left + ((t - t0) / (t1 - t0)) * (w - left - right);
  const Y = (v) => top + (1 - (v - vmin) / (vmax - vmin)) * (h - top - bottom);
  g.append(svg("line", { class: "axis", x1: left, y1: Y(0), x2: w - right, y2: Y(0) }));
  g.append(svg("line", { class: "axis", x1: left, y1: top, x2: left, y2: h - bottom }));
  for (const v of [vmax / 1.1, vmax / 2.2]) {
    g.append(svg("line", { class: "grid", x1: left, y1: Y(v), x2: w - right, y2: Y(v) }),
      svg("text", { x: 2, y: Y(v) + 4 }, fmtSecs(v)));
  }
  g.append(svg("text", { x: left, y: h - 8 }, fmtTime(new Date(t0).toISOString()).slice(5, 16)),
    svg("text", { x: w - 90, y: h - 8 }, fmtTime(new Date(t1).toISOString()).slice(5, 16)));
  const series = [["lag_seconds", "var(--running)", "lag"], ["duration_seconds", "var(--skipped)", "duration"]];
  for (const [key, color, name] of series) {
    const pts = points.filter((p) => p[key] !== null && p[key] !== undefined);
    if (pts.length > 1) {
      g.append(svg("polyline", { fill: "none", stroke: color, "stroke-width": 1.5,
        points: pts.map((p) => `${X(Date.parse(p.at)).toFixed(1)},${Y(p[key]).toFixed(1)}`).join(" ") }));
    }
    for (const p of pts) {
      const shape = name === "lag"
        ? svg("circle", { cx: X(Date.parse(p.at)), cy: Y(p[key]), r: 3.5, fill: color })
        : svg("rect", { x: X(Date.parse(p.at)) - 3, y: Y(p[key]) - 3, width: 6, height: 6, fill: color });
      shape.append(svg("title", {}, `${p.run_id} at ${fmtTime(p.at)}: ${name} ${fmtSecs(p[key])} (${p.status})`));
      g.append(shape);
    }
  }
  return g;
}
function legend(marks) {
  return el("ul", { class: "legend", id: "timeline-legend" }, MARKS.map((m) => el("li", { "data-mark": m },
    el("span", { class: "swatch", style: `background: var(--${m})`, "aria-hidden": "true" }),
    `${MARK_LABEL[m]}: `, el("strong", {}, String(marks[m] || 0)))));
}
function runsTable(r, runs, detail, onCancel) {
  const body = runs.map((run) => el("tr", { "data-run": run.run_id },
    el("td", { class: "mono" }, run.run_id),
    el("td", {}, run.trigger_type),
    el("td", {}, pill(run.status)),
    el("td", { class: "num" }, String(run.attempt)),
    el("td", { class: "mono hide-narrow" }, fmtTime(run.triggered_at)),
    el("td", { class: "num" }, fmtSecs(run.duration_seconds)),
    el("td", { class: "hide-narrow" }, run.error_code || ""),
    el("td", { class: "row" },
      el("button", { type: "button", "aria-controls": "run-detail", onclick: () => showRun(r, run, detail) }, "Details"),
      ["pending", "running"].includes(run.status)
        ? el("button", { type: "button", class: "cancel", "aria-label": `Cancel run ${run.run_id}`, onclick: (ev) => onCancel(run, ev.currentTarget) }, "Cancel")
        : null)));
  return el("div", { class: "table-wrap" }, el("table", { id: "runs" },
    el("caption", { class: "skip" }, "Runs, newest first"),
    el("thead", {}, el("tr", {}, ["Run", "Trigger", "Status", "Attempts", "Triggered", "Duration", "Error", ""]
      .map((h, i) => el("th", { scope: "col", class: [null, null, null, "num", "hide-narrow", "num", "hide-narrow", null][i] }, h || el("span", { class: "skip" }, "details"))))),
    el("tbody", {}, body.length ? body : el("tr", {}, el("td", { colspan: 8, class: "muted" }, "No runs kept.")))));
}
async function showRun(r, run, detail) {
  detail.replaceChildren(el("p", {}, "Loading…"));
  try {
    const base = `${prefix(r)}/actions/${enc(r.action)}/runs/${enc(run.run_id)}`;
    const [full, att] = await Promise.all([api(base), api(`${base}/attempts`)]);
    const facts = [["Status", pill(full.status)], ["Trigger", full.trigger_type], ["Triggered", fmtTime(full.triggered_at)],
      ["Started", fmtTime(full.started_at)], ["Completed", fmtTime(full.completed_at)], ["Duration", fmtSecs(full.duration_seconds)],
      ["Execution id", el("code", {}, full.execution_id || "—")], ["Thread", el("code", {}, full.resolved_thread_id || "—")],
      ["Error", full.error_code ? `${full.error_code}: ${full.error_message || ""}` : "—"]];
    if (att.next_attempt_at) facts.push(["Next attempt", fmtTime(att.next_attempt_at)]);
    detail.replaceChildren(
      el("h3", { id: "run-detail-h", tabindex: "-1" }, `Run ${full.run_id}`),
      el("dl", { class: "facts" }, facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
      el("h4", {}, `Attempts (${att.attempts.length})`),
      el("div", { class: "table-wrap" }, el("table", { id: "attempts" },
        el("thead", {}, el("tr", {}, ["#", "Execution id", "Started", "Duration", "HTTP", "Error"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, att.attempts.map((a) => el("tr", {},
          el("td", { class: "num" }, String(a.number)), el("td", { class: "mono" }, a.execution_id),
          el("td", { class: "mono" }, fmtTime(a.started_at)), el("td", { class: "num" }, fmtSecs(a.duration_seconds)),
          el("td", { class: "num" }, a.http_status ?? "—"), el("td", {}, a.error_code || "")))))),
      el("h4", {}, "Payload sent"),
      el("pre", {}, JSON.stringify(full.resolved_payload, null, 2)));
    detail.querySelector("h3").focus();
  } catch (e) {
    detail.replaceChildren(el("p", { class: "error", role: "alert" }, `Cannot load the run: ${e.message}`));
  }
}
async function renderAction(r) {
  const hours = ["1", "24", "168"].includes(r.hours) ? Number(r.hours) : 24;
  const base = `${prefix(r)}/actions/${enc(r.action)}`;
  const [a, tl, runs] = await Promise.all([api(base), api(`${base}/timeline?hours=${hours}`), api(`${base}/runs?limit=50`)]);
  const status = el("p", { class: flash ? "status ok" : "status", id: "action-status", role: "status", "aria-live": "polite" }, flash);
  flash = null;
  const detail = el("section", { id: "run-detail", class: "panel", "aria-live": "polite" }, el("p", { class: "muted" }, "Choose a run's Details to see its attempts."));
  const runsBox = el("div", { id: "runs-box" });
  const runsTitle = el("h2", { id: "runs-h" }, `Runs (${runs.total})`);
  const say = (cls, msg) => { status.className = `status ${cls}`; status.textContent = msg; };
  const why = (e) => (e instanceof ApiError && e.status === 403
    ? `your token lacks ${(e.body && e.body.details && e.body.details.required_permission) || "permission"}`
    : e.message);
  // Cancel goes through POST .../runs/{run}/cancel (update on actionruns), like any client.
  const onCancel = async (run, button) => {
    button.disabled = true;
    say("", `Cancelling ${run.run_id}…`);
    try {
      await api(`${base}/runs/${enc(run.run_id)}/cancel`, "POST");
      say("ok", `Cancel requested for run ${run.run_id}.`);
      for (let i = 0; i < 10; i++) {
        const fresh = await reloadRuns();
        const mine = fresh.runs.find((x) => x.run_id === run.run_id);
        if (!mine || !["pending", "running"].includes(mine.status)) break;
        await new Promise((ok) => setTimeout(ok, 1000));
      }
      // The timeline, counters and last status change too.
      flash = status.textContent;
      render();
    } catch (e) {
      say("error", `Cancel failed: ${why(e)}.`);
      button.disabled = false;
    }
  };
  const reloadRuns = async () => {
    const fresh = await api(`${base}/runs?limit=50`);
    runsBox.replaceChildren(runsTable(r, fresh.runs, detail, onCancel));
    runsTitle.textContent = `Runs (${fresh.total})`;
    return fresh;
  };
  runsBox.append(runsTable(r, runs.runs, detail, onCancel));
  const act = (label, path, done) => el("button", { type: "button", id: `btn-${path}`, onclick: async (ev) => {
    const b = ev.currentTarget;
    b.disabled = true;
    status.className = "status";
    status.textContent = `${label}…`;
    try {
      const res = await api(`${base}/${path}`, "POST");
      status.className = "status ok";
      status.textContent = done(res);
      if (path === "trigger") {
        // Show the new run as it appears and progresses.
        for (let i = 0; i < 15; i++) {
          const fresh = await reloadRuns();
          const mine = fresh.runs.find((x) => x.run_id === res.run_id);
          if (mine && ["succeeded", "failed", "cancelled"].includes(mine.status)) break;
          await new Promise((ok) => setTimeout(ok, 2000));
        }
      } else {
        flash = status.textContent;
        setTimeout(render, 600);
      }
    } catch (e) {
      say("error", `${label} failed: ${why(e)}.`);
    } finally {
      b.disabled = false;
    }
  } }, label);
  const c = tl.counters;
  const windowChoice = el("fieldset", { class: "row" }, el("legend", { class: "inline" }, "Window"),
    [[1, "Last hour"], [24, "Last day"], [168, "Last week"]].map(([h, text]) => el("label", { class: "choice" },
      el("input", { type: "radio", name: "window", value: h, checked: h === hours,
        onchange: () => { location.hash = `${href(r)}?hours=${h}`; } }), text)));
  setMain(a.name,
    el("h1", {}, a.name, " ", el("span", { class: "muted mono" }, a.action_id)),
    el("dl", { class: "facts", id: "action-facts" },
      el("dt", {}, "Schedule"), el("dd", {}, schedule(a), a.schedule_type === "cron" ? ` in ${a.timezone}` : ""),
      el("dt", {}, "Enabled"), el("dd", { id: "enabled" }, a.is_enabled ? "enabled" : "disabled"),
      el("dt", {}, "Next fire times"), el("dd", {}, tl.upcoming.length ? tl.upcoming.map((t) => el("div", { class: "mono" }, `${fmtTime(t)} (${fmtRel(t)})`)) : "—"),
      el("dt", {}, "Last status"), el("dd", {}, a.last_run_status ? pill(a.last_run_status) : "none", a.last_run_at ? ` at ${fmtTime(a.last_run_at)}` : ""),
      el("dt", {}, "Endpoint"), el("dd", { class: "mono" }, a.endpoint_id)),
    el("div", { class: "row", role: "group", "aria-label": "Actions on this Action" },
      act("Trigger now", "trigger", (res) => `Triggered: run ${res.run_id} is pending.`),
      a.is_enabled ? act("Disable", "disable", () => "Disabled.") : act("Enable", "enable", () => "Enabled.")),
    status,
    el("section", { "aria-labelledby": "tl-h" },
      el("h2", { id: "tl-h" }, "Timeline"),
      windowChoice,
      timelineChart(tl, a.created_at),
      legend(tl.marks),
      tl.truncated ? el("p", { class: "muted" }, "Only the newest 2000 slots are shown.") : null,
      el("div", { class: "cards", id: "counters" },
        card("finished runs (all time)", String(c.total_runs), "c-total"),
        card("succeeded", String(c.successful_runs), "c-succeeded"),
        card("failed", String(c.failed_runs), "c-failed"),
        card("skipped slots", String(c.skipped_runs), "c-skipped"),
        card("missed slots", String(c.missed_runs), "c-missed")),
      el("p", { class: "muted" }, "Each mark is a slot of the schedule or a run. Grey: no run is kept for that slot (history limits remove old runs, and skipped or missed slots leave only their count)."),
      el("h2", { id: "plot-h" }, "Schedule lag and duration"),
      el("ul", { class: "legend" },
        el("li", {}, el("span", { class: "swatch", style: "background: var(--running); border-radius: 50%", "aria-hidden": "true" }), "lag (first attempt minus slot)"),
        el("li", {}, el("span", { class: "swatch", style: "background: var(--skipped)", "aria-hidden": "true" }), "duration")),
      plot(tl.points)),
    el("section", { "aria-labelledby": "runs-h" }, runsTitle, runsBox),
    detail);
}

// ---- main ----
async function render() {
  // data-ready: "true" once the page shows its answer (the browser test waits for it).
  document.getElementById("main").dataset.ready = "false";
  const r = parseRoute();
  if (!r.action) flash = null;
  crumbs(r);
  session();
  try {
    if (r.action) await renderAction(r);
    else if (r.app) await renderApp(r);
    else await renderHome();
  } catch (e) {
    showError(e);
  }
  document.getElementById("main").dataset.ready = "true";
}
window.addEventListener("hashchange", () => render().then(() => document.getElementById("main").focus()));
document.addEventListener("DOMContentLoaded", () => {
  // The skip link moves focus without touching the address, which is the router's.
  document.querySelector(".skip").addEventListener("click", (ev) => {
    ev.preventDefault();
    document.getElementById("main").focus();
  });
  render();
});
