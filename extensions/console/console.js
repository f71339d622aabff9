// The sessions console: draws the sessions list and a session's timeline from the
// sessions_api JSON API. No framework, no build step; data is only ever set as text.
"use strict";

const $ = (id) => document.getElementById(id);
const PAGE = 50;
const REFRESH_MS = 10000;
// the time windows, as the API's durations ago
const WINDOWS = { "1h": "1h", "24h": "24h", "7d": "168h", "30d": "720h" };
const COLOURS = ["#9a3f1f", "#2b6cb0", "#217a3c", "#7b4bb7", "#b7791f", "#2c7a7b", "#c53030",
  "#4a5568"];
const state = { page: 0, timer: null, detail: null, signedIn: false };

class SignedOut extends Error {}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const svgNS = "http://www.w3.org/2000/svg";
function svg(tag, attrs, ...children) {
  const node = document.createElementNS(svgNS, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
  for (const child of children) node.append(child);
  return node;
}

const number = new Intl.NumberFormat();
const fmtInt = (n) => number.format(n || 0);
// dollars to the micro-dollar the store counts in, without trailing zeros below a dollar
const fmtCost = (n) => {
  const micros = Math.round((n || 0) * 1e6);
  if (micros >= 1e6) return "$" + (micros / 1e6).toFixed(2);
  return "$" + (micros / 1e6).toFixed(6).replace(/0{1,4}$/, "");
};
// a long user id (Claude Code's is a 64-digit hash) shortened; the whole one in its title
const user = (text) => (text && text.length > 24 && !text.includes("@")
  ? el("span", { title: text }, text.slice(0, 12) + "…") : text || "");
const fmtTime = (iso) => (iso ? new Date(iso).toLocaleString() : "");
const fmtMs = (ms) => (ms >= 1000 ? (ms / 1000).toFixed(1) + " s" : Math.round(ms) + " ms");

async function api(path, options) {
  const resp = await fetch(path, Object.assign({
    credentials: "same-origin", headers: { Accept: "application/json" } }, options || {}));
  let body = {};
  try { body = await resp.json(); } catch (e) { body = {}; }
  if (resp.status === 401 && !path.startsWith("/console/")) {
    showSignIn();
    throw new SignedOut();
  }
  if (!resp.ok) {
    const error = new Error(body.error || resp.statusText);
    error.status = resp.status;
    throw error;
  }
  return body;
}

function show(view) {
  for (const id of ["sign-in-view", "list-view", "detail-view"]) $(id).hidden = id !== view;
  const signedIn = view !== "sign-in-view";
  $("sign-out").hidden = !signedIn;
  $("who").hidden = !signedIn;
  $("status").textContent = "";
}

function showSignIn() {
  state.signedIn = false;
  stopRefresh();
  $("sessions").tBodies[0].replaceChildren();
  $("timeline").replaceChildren();
  $("figures").replaceChildren();
  renderTraces([]);
  show("sign-in-view");
  $("api-key").focus();
}

async function signIn(event) {
  event.preventDefault();
  const input = $("api-key");
  $("sign-in-error").textContent = "";
  try {
    const body = await api("/console/sign-in", {
      method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ key: input.value }) });
    input.value = "";
    $("who").textContent = "org " + body.org;
    route();
  } catch (error) {
    input.value = "";
    $("sign-in-error").textContent = error.message;
  }
}

async function signOut() {
  try { await api("/console/sign-out", { method: "POST" }); } catch (e) { /* gone already */ }
  history.pushState(null, "", "/");
  showSignIn();
}

// -- the sessions list ---------------------------------------------------------------------

function filtersFromUrl() {
  const q = new URLSearchParams(location.search);
  $("f-client").dataset.want = q.get("client") || "";
  $("f-user").value = q.get("user") || "";
  $("f-window").value = q.get("window") || "24h";
  $("f-since").value = q.get("since") || "";
  $("f-until").value = q.get("until") || "";
  $("f-q").value = q.get("q") || "";
  $("f-by").value = q.get("by") || "client";
  state.page = Math.max(0, parseInt(q.get("page") || "0", 10) || 0);
  customShown();
}

function filtersToUrl() {
  const q = new URLSearchParams();
  const client = $("f-client").value || $("f-client").dataset.want || "";
  if (client) q.set("client", client);
  if ($("f-user").value.trim()) q.set("user", $("f-user").value.trim());
  if ($("f-window").value !== "24h") q.set("window", $("f-window").value);
  if ($("f-window").value === "custom") {
    if ($("f-since").value) q.set("since", $("f-since").value);
    if ($("f-until").value) q.set("until", $("f-until").value);
  }
  if ($("f-q").value.trim()) q.set("q", $("f-q").value.trim());
  if ($("f-by").value !== "client") q.set("by", $("f-by").value);
  if (state.page) q.set("page", String(state.page));
  const search = q.toString();
  history.replaceState(null, "", "/" + (search ? "?" + search : ""));
}

function customShown() {
  for (const node of document.querySelectorAll(".custom")) {
    node.hidden = $("f-window").value !== "custom";
  }
}

function query(extra) {
  const q = new URLSearchParams(extra || {});
  const client = $("f-client").value || $("f-client").dataset.want || "";
  if (client) q.set("client", client);
  if ($("f-user").value.trim()) q.set("user", $("f-user").value.trim());
  if ($("f-window").value === "custom") {
    if ($("f-since").value) q.set("since", new Date($("f-since").value).toISOString());
    else q.set("since", WINDOWS["30d"]);
    if ($("f-until").value) q.set("until", new Date($("f-until").value).toISOString());
  } else {
    q.set("since", WINDOWS[$("f-window").value] || "24h");
  }
  return q;
}

async function loadList() {
  const list = query({ limit: String(PAGE + 1), offset: String(state.page * PAGE) });
  if ($("f-q").value.trim()) list.set("q", $("f-q").value.trim());
  const overview = query({ by: $("f-by").value });
  const [sessions, figures] = await Promise.all([
    api("/api/v1/sessions?" + list), api("/api/v1/overview?" + overview)]);
  state.signedIn = true;
  renderClients(figures.clients);
  renderOverview(figures);
  renderSessions(sessions.sessions);
  $("refreshed").textContent = "Updated " + new Date().toLocaleTimeString();
}

function renderClients(clients) {
  const select = $("f-client");
  const want = select.value || select.dataset.want || "";
  const names = Array.from(new Set([...(clients || []), ...(want ? [want] : [])])).sort();
  select.replaceChildren(el("option", { value: "" }, "All clients"),
    ...names.map((name) => el("option", { value: name }, name)));
  select.value = want;
}

function renderSessions(rows) {
  const more = rows.length > PAGE;
  rows = rows.slice(0, PAGE);
  const body = $("sessions").tBodies[0];
  body.replaceChildren(...rows.map((s) => el("tr", {},
    el("td", {}, el("a", { href: "/sessions/" + encodeURIComponent(s.session_id) },
      s.title || "(no prompt text)")),
    el("td", {}, s.client), el("td", {}, user(s.user_email || s.user_id)),
    el("td", {}, el("time", { datetime: s.last_seen }, fmtTime(s.last_seen))),
    el("td", { class: "num" }, fmtInt(s.prompts)),
    el("td", { class: "num" }, fmtInt(s.tool_calls)),
    el("td", { class: "num" }, fmtInt(s.api_requests)),
    el("td", { class: "num" }, fmtInt(s.api_errors + s.tool_failures)),
    el("td", { class: "num" }, fmtInt(s.input_tokens) + " / " + fmtInt(s.output_tokens)),
    el("td", { class: "num" }, fmtCost(s.cost_usd)))));
  if (!rows.length) {
    body.append(el("tr", {}, el("td", { colspan: 10 }, "No sessions match these filters.")));
  }
  $("count").textContent = rows.length ? "(" + (state.page * PAGE + 1) + "–" +
    (state.page * PAGE + rows.length) + ")" : "";
  $("prev").disabled = state.page === 0;
  $("next").disabled = !more;
  $("page-label").textContent = "Page " + (state.page + 1);
}

function renderOverview(doc) {
  const series = doc.series || [];
  let cost = 0, tokensIn = 0, tokensOut = 0;
  for (const point of series) {
    cost += point.cost_usd; tokensIn += point.input_tokens; tokensOut += point.output_tokens;
  }
  $("totals").replaceChildren(
    el("div", {}, el("span", {}, "Cost"), fmtCost(cost)),
    el("div", {}, el("span", {}, "Tokens in"), fmtInt(tokensIn)),
    el("div", {}, el("span", {}, "Tokens out"), fmtInt(tokensOut)));
  renderChart(doc);
  $("top-users").replaceChildren(
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "User"),
      el("th", { scope: "col", class: "num" }, "Cost"),
      el("th", { scope: "col", class: "num" }, "Failures"),
      el("th", { scope: "col", class: "num" }, "Sessions"))),
    el("tbody", {}, (doc.top_users || []).map((u) => el("tr", {}, el("td", {}, user(u.user)),
      el("td", { class: "num" }, fmtCost(u.cost_usd)), el("td", { class: "num" }, u.failures),
      el("td", { class: "num" }, u.sessions)))));
  $("top-tools").replaceChildren(
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Tool"),
      el("th", { scope: "col", class: "num" }, "Calls"),
      el("th", { scope: "col", class: "num" }, "Failures"),
      el("th", { scope: "col", class: "num" }, "Avg duration"))),
    el("tbody", {}, (doc.top_tools || []).map((t) => el("tr", {}, el("td", {}, t.tool),
      el("td", { class: "num" }, t.calls), el("td", { class: "num" }, t.failures),
      el("td", { class: "num" }, fmtMs(t.avg_duration_ms))))));
  const users = $("users");
  users.replaceChildren(...(doc.top_users || []).map((u) => el("option", { value: u.user })));
}

function renderChart(doc) {
  const step = doc.step_seconds * 1000;
  const start = Math.floor(Date.parse(doc.since) / step) * step;
  const end = Date.parse(doc.until);
  const buckets = [];
  for (let t = start; t <= end && buckets.length < 800; t += step) buckets.push(t);
  const groups = Array.from(new Set(doc.series.map((p) => p.group))).sort();
  const byBucket = new Map();
  for (const p of doc.series) {
    const t = Math.floor(Date.parse(p.bucket) / step) * step;
    const stack = byBucket.get(t) || {};
    stack[p.group] = (stack[p.group] || 0) + p.cost_usd;
    byBucket.set(t, stack);
  }
  const totals = buckets.map((t) => Object.values(byBucket.get(t) || {}).reduce((a, b) => a + b, 0));
  const max = Math.max(...totals, 0) || 1;
  const width = 900, height = 180, left = 60, bottom = 22;
  const barWidth = Math.max(1, (width - left) / Math.max(1, buckets.length) - 1);
  const unit = doc.step_seconds === 3600 ? "hour" : "day";
  const label = "Cost per " + unit + " by " + doc.by + ", " + fmtCost(totals.reduce((a, b) => a + b, 0)) +
    " in all";
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label });
  chart.append(svg("line", { x1: left, y1: height - bottom, x2: width, y2: height - bottom,
    stroke: "#d8dee4" }));
  const top = svg("text", { x: left - 6, y: 12, "text-anchor": "end", "font-size": 11,
    fill: "#5d6873" });
  top.textContent = fmtCost(max);
  chart.append(top);
  buckets.forEach((t, i) => {
    let y = height - bottom;
    const stack = byBucket.get(t) || {};
    groups.forEach((group, g) => {
      const value = stack[group] || 0;
      if (!value) return;
      const h = (value / max) * (height - bottom - 16);
      y -= h;
      const rect = svg("rect", { x: left + i * (barWidth + 1), y, width: barWidth, height: h,
        fill: COLOURS[g % COLOURS.length] });
      const tip = svg("title");
      tip.textContent = `${new Date(t).toLocaleString()} · ${group}: ${fmtCost(value)}`;
      rect.append(tip);
      chart.append(rect);
    });
  });
  for (const [i, t] of [[0, buckets[0]], [buckets.length - 1, buckets[buckets.length - 1]]]) {
    if (t === undefined) continue;
    const text = svg("text", { x: left + i * (barWidth + 1), y: height - 6, "font-size": 11,
      fill: "#5d6873", "text-anchor": i ? "end" : "start" });
    text.textContent = new Date(t).toLocaleString();
    chart.append(text);
  }
  const legend = el("figcaption", { class: "legend" }, label, groups.map((group, g) =>
    el("span", {}, el("i", { style: null, "data-colour": g % COLOURS.length }), group)));
  $("chart").replaceChildren(chart, legend);
  for (const swatch of legend.querySelectorAll("i")) {
    swatch.style.background = COLOURS[Number(swatch.dataset.colour)];
  }
}

function startRefresh() {
  stopRefresh();
  state.timer = setInterval(() => {
    if (document.hidden || $("list-view").hidden) return;
    loadList().catch(report);
  }, REFRESH_MS);
}

function stopRefresh() {
  if (state.timer) clearInterval(state.timer);
  state.timer = null;
}

function filtersChanged() {
  state.page = 0;
  customShown();
  filtersToUrl();
  loadList().catch(report);
}

// -- one session ---------------------------------------------------------------------------

async function loadDetail(id) {
  stopRefresh();
  let session, events;
  try {
    [session, events] = await Promise.all([
      api("/api/v1/sessions/" + encodeURIComponent(id)),
      api("/api/v1/sessions/" + encodeURIComponent(id) + "/events")]);
  } catch (error) {
    if (error.status === 404) {
      $("detail-title").textContent = "No such session";
      $("figures").replaceChildren();
      renderTraces([]);
      $("timeline").replaceChildren();
      return;
    }
    throw error;
  }
  state.signedIn = true;
  state.detail = { session, events: events.events };
  document.title = (session.title || "Session") + " · session-collector";
  $("detail-title").textContent = session.title || "Session " + session.session_id;
  const figure = (name, value) => el("div", {}, el("dt", {}, name), el("dd", {}, value));
  $("figures").replaceChildren(
    figure("Session", session.session_id), figure("Client", session.client),
    figure("Client version", session.client_version || "—"),
    figure("User", session.user_email || user(session.user_id) || "—"),
    figure("First seen", fmtTime(session.first_seen)), figure("Last seen", fmtTime(session.last_seen)),
    figure("Prompts", fmtInt(session.prompts)), figure("Tool calls", fmtInt(session.tool_calls)),
    figure("Tool failures", fmtInt(session.tool_failures)),
    figure("API requests", fmtInt(session.api_requests)),
    figure("API errors", fmtInt(session.api_errors)),
    figure("Tokens in", fmtInt(session.input_tokens)),
    figure("Tokens out", fmtInt(session.output_tokens)),
    figure("Cache read", fmtInt(session.cache_read_tokens)),
    figure("Cache creation", fmtInt(session.cache_creation_tokens)),
    figure("Cost", fmtCost(session.cost_usd)),
    figure("Models", (session.models || []).join(", ") || "—"),
    figure("Lines added", fmtInt(session.lines_added)),
    figure("Lines removed", fmtInt(session.lines_removed)),
    figure("Commits", fmtInt(session.commits)),
    figure("Pull requests", fmtInt(session.pull_requests)),
    figure("Active time", fmtMs((session.active_time_s || 0) * 1000)));
  renderTraces(session.traces || []);
  renderTimeline(events.events);
}

function renderTraces(traces) {
  $("traces-section").hidden = !traces.length;
  $("traces").replaceChildren(...traces.map((t) => el("li", { "data-trace-id": t.trace_id },
    el("strong", {}, t.root_name || "(unnamed span)"), " · ",
    fmtInt(t.spans) + (t.spans === 1 ? " span" : " spans"), " · ",
    el("time", { datetime: t.start }, fmtTime(t.start)), " · ", fmtMs(t.duration_ms),
    " · ", el("code", { class: "muted" }, t.trace_id))));
}

function renderTimeline(events) {
  const prompts = new Map();
  for (const event of events) {
    const key = event.prompt_id || "";
    if (!prompts.has(key)) prompts.set(key, []);
    prompts.get(key).push(event);
  }
  const items = [];
  for (const [promptId, group] of prompts) {
    const prompt = group.find((e) => e.event === "user_prompt");
    const text = prompt && prompt.prompt && prompt.prompt !== "<REDACTED>" ? prompt.prompt : null;
    const header = el("header", {},
      el("strong", {}, promptId ? "Prompt" : "Outside any prompt"), " ",
      el("time", { class: "muted", datetime: group[0].time }, fmtTime(group[0].time)),
      promptId ? (text !== null ? el("blockquote", {}, text)
        : el("p", { class: "muted" }, "The prompt's text was not recorded.")) : null);
    items.push(el("li", { class: "prompt" }, header, el("ol", {}, renderEvents(group))));
  }
  $("timeline").replaceChildren(...items);
  if (!items.length) $("timeline").append(el("li", {}, "No events stored for this session."));
}

function renderEvents(group) {
  const results = new Map();
  for (const e of group) if (e.event === "tool_result" && e.tool_use_id) results.set(e.tool_use_id, e);
  const shown = new Set();
  const out = [];
  for (const e of group) {
    if (e.event === "user_prompt") continue;
    if (e.event === "tool_decision" || e.event === "tool_result") {
      const id = e.tool_use_id || "";
      if (id && shown.has(id)) continue;
      if (id) shown.add(id);
      const decision = e.event === "tool_decision" ? e : group.find(
        (x) => x.event === "tool_decision" && x.tool_use_id === id);
      const result = e.event === "tool_result" ? e : results.get(id);
      out.push(renderTool(decision, result));
    } else if (e.event === "api_request") {
      out.push(el("li", { class: "event" }, el("span", { class: "kind" }, "API request"),
        [e.model, fmtInt(e.input_tokens) + " in", fmtInt(e.output_tokens) + " out",
          fmtInt(e.cache_read_tokens) + " cache read",
          fmtInt(e.cache_creation_tokens) + " cache creation",
          fmtCost(e.cost_usd), e.duration_ms !== undefined ? fmtMs(e.duration_ms) : null]
          .filter((x) => x).join(" · ")));
    } else if (e.event === "api_error") {
      out.push(el("li", { class: "event" }, el("span", { class: "kind failed" }, "API error"),
        [e.status_code ? "status " + e.status_code : null, e.error, e.model,
          e.attempt ? "attempt " + e.attempt : null,
          e.duration_ms !== undefined ? fmtMs(e.duration_ms) : null].filter((x) => x).join(" · ")));
    } else if (e.event === "assistant_response") {
      out.push(el("li", { class: "event" }, el("span", { class: "kind" }, "Response"),
        el("div", { class: "response" }, e.response || "(not recorded)")));
    } else {
      out.push(el("li", { class: "event" }, el("span", { class: "kind" }, e.event || "event"),
        fmtTime(e.time)));
    }
  }
  return out;
}

function renderTool(decision, result) {
  const any = decision || result;
  const parts = [any.tool_name || "tool"];
  if (decision) parts.push(decision.decision === "accept" ? "accepted" :
    decision.decision === "reject" ? "rejected" : decision.decision || "decided");
  if (decision && decision.source) parts[parts.length - 1] += " (" + decision.source + ")";
  let outcome = null;
  if (result) {
    outcome = el("span", { class: result.success === false ? "failed" : "ok" },
      (result.success === false ? "failed" : "succeeded") +
      (result.duration_ms !== undefined ? " in " + fmtMs(result.duration_ms) : ""));
  }
  const params = any.tool_parameters || (result && result.tool_parameters);
  let pretty = params;
  try { pretty = JSON.stringify(JSON.parse(params), null, 2); } catch (e) { /* as sent */ }
  return el("li", { class: "event" }, el("span", { class: "kind" }, "Tool"),
    parts.join(" · "), outcome ? " · " : null, outcome,
    result && result.error ? el("div", { class: "failed" }, result.error) : null,
    params ? el("details", {}, el("summary", {}, "Parameters"), el("pre", {}, pretty)) : null);
}

function download() {
  if (!state.detail) return;
  const blob = new Blob([JSON.stringify(state.detail, null, 2)], { type: "application/json" });
  const link = el("a", { href: URL.createObjectURL(blob),
    download: "session-" + state.detail.session.session_id + ".json" });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

// -- routing -------------------------------------------------------------------------------

function report(error) {
  if (error instanceof SignedOut) return;
  $("status").textContent = error.message || String(error);
}

function route() {
  const match = location.pathname.match(/^\/sessions\/(.+)$/);
  if (match) {
    show("detail-view");
    loadDetail(decodeURIComponent(match[1])).catch(report);
  } else {
    show("list-view");
    document.title = "Sessions · session-collector";
    filtersFromUrl();
    loadList().then(startRefresh).catch(report);
  }
}

document.addEventListener("click", (event) => {
  const link = event.target.closest ? event.target.closest("a") : null;
  if (!link || link.target || link.hasAttribute("download") || event.ctrlKey || event.metaKey ||
      event.shiftKey || event.button !== 0) return;
  const url = new URL(link.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith("/api/")) return;
  event.preventDefault();
  history.pushState(null, "", url.pathname + url.search);
  route();
});

window.addEventListener("popstate", route);
window.addEventListener("DOMContentLoaded", () => {
  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", signOut);
  $("download").addEventListener("click", download);
  for (const id of ["f-client", "f-window", "f-since", "f-until", "f-by"]) {
    $(id).addEventListener("change", filtersChanged);
  }
  let typing = null;
  for (const id of ["f-user", "f-q"]) {
    $(id).addEventListener("input", () => {
      clearTimeout(typing);
      typing = setTimeout(filtersChanged, 300);
    });
  }
  $("filters").addEventListener("submit", (event) => { event.preventDefault(); filtersChanged(); });
  $("prev").addEventListener("click", () => { state.page -= 1; filtersToUrl(); loadList().catch(report); });
  $("next").addEventListener("click", () => { state.page += 1; filtersToUrl(); loadList().catch(report); });
  route();
});
