// The Hiqlite dashboard: plain DOM, no framework. Every value is set with textContent, never
// as HTML, so nothing from the database or the cluster can inject markup.
"use strict";

const REFRESH_MS = 3000;
let timer = null;

const $ = (id) => document.getElementById(id);

async function api(path, body) {
  const options = { credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    options.method = "POST";
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  let data = null;
  if (response.status !== 204) {
    try { data = await response.json(); } catch (e) { data = null; }
  }
  return { status: response.status, data };
}

function show(loggedIn) {
  $("login").hidden = loggedIn;
  $("dashboard").hidden = !loggedIn;
  $("logout").hidden = !loggedIn;
  $("refresh").hidden = !loggedIn;
  if (timer) { clearInterval(timer); timer = null; }
  if (loggedIn) { timer = setInterval(refresh, REFRESH_MS); }
  else { $("password").focus(); }
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "-" : String(text);
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function renderCluster(view) {
  $("node-name").textContent = "node " + view.node_id;
  $("leader").textContent = view.leader_id === null ? "none known" : "node " + view.leader_id;
  $("updated").textContent = "(updated " + new Date().toLocaleTimeString() + ")";
  const body = $("members").tBodies[0];
  body.replaceChildren();
  for (const m of view.members) {
    const tr = document.createElement("tr");
    tr.dataset.nodeId = m.node_id;
    tr.dataset.role = m.role;
    if (m.role === "leader") tr.className = "leader";
    if (m.role === "unreachable") tr.className = "unreachable";
    cell(tr, m.node_id + (m.node_id === view.node_id ? " (this node)" : ""));
    cell(tr, m.membership);
    cell(tr, m.role, "role-" + m.role);
    cell(tr, m.term, "num");
    cell(tr, m.last_applied, "num");
    cell(tr, m.lag, "num");
    cell(tr, m.raft_addr);
    cell(tr, m.api_addr);
    cell(tr, m.error || "");
    body.appendChild(tr);
  }
  const errors = $("errors").tBodies[0];
  errors.replaceChildren();
  for (const e of view.recent_errors) {
    const tr = document.createElement("tr");
    cell(tr, new Date(e.at_ms).toLocaleString());
    cell(tr, e.kind);
    cell(tr, e.message);
    errors.appendChild(tr);
  }
  $("errors-note").textContent = view.recent_errors.length === 0
    ? "No failed writes or reads since this node started."
    : "Failed writes and reads, newest first (the last " + view.recent_errors_kept + " are kept).";
}

async function refresh() {
  let answer;
  try {
    answer = await api("/dashboard/api/cluster");
  } catch (e) {
    $("cluster-error").textContent = "This node does not answer: " + e.message;
    return;
  }
  if (answer.status === 401) { show(false); return; }
  if (answer.status !== 200 || !answer.data) {
    $("cluster-error").textContent = "The cluster view failed (HTTP " + answer.status + ")";
    return;
  }
  $("cluster-error").textContent = "";
  renderCluster(answer.data);
  if ($("dashboard").hidden) show(true);
}

async function login(event) {
  event.preventDefault();
  $("login-error").textContent = "";
  const answer = await api("/dashboard/login", { password: $("password").value });
  if (answer.status === 204) {
    $("password").value = "";
    await refresh();
  } else {
    $("login-error").textContent = (answer.data && answer.data.error) || ("Log-in failed (HTTP " + answer.status + ")");
  }
}

async function logout() {
  await api("/dashboard/logout", {});
  show(false);
}

function renderResult(result) {
  const table = $("results");
  const head = table.tHead;
  head.replaceChildren();
  const hr = document.createElement("tr");
  for (const c of result.columns) {
    const th = document.createElement("th");
    th.textContent = c;
    hr.appendChild(th);
  }
  head.appendChild(hr);
  const body = table.tBodies[0];
  body.replaceChildren();
  for (const row of result.rows) {
    const tr = document.createElement("tr");
    for (const v of row) {
      if (v === null) cell(tr, "NULL", "null");
      else cell(tr, v, typeof v === "number" ? "num" : "");
    }
    body.appendChild(tr);
  }
  $("max-rows").textContent = result.max_rows;
  const n = result.rows.length;
  $("sql-note").textContent = result.truncated
    ? "Showing the first " + n + " rows; the statement has more."
    : n + (n === 1 ? " row" : " rows");
}

async function runSql(event) {
  event.preventDefault();
  $("sql-error").textContent = "";
  $("sql-note").textContent = "";
  const answer = await api("/dashboard/api/query", { sql: $("sql").value });
  if (answer.status === 401) { show(false); return; }
  if (answer.status !== 200) {
    $("results").tHead.replaceChildren();
    $("results").tBodies[0].replaceChildren();
    $("sql-error").textContent = (answer.data && answer.data.error) || ("The query failed (HTTP " + answer.status + ")");
    return;
  }
  renderResult(answer.data);
}

document.addEventListener("DOMContentLoaded", async () => {
  $("login-form").addEventListener("submit", login);
  $("sql-form").addEventListener("submit", runSql);
  $("logout").addEventListener("click", logout);
  $("refresh").addEventListener("click", refresh);
  await refresh();
});
