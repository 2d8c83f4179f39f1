// shmjob dashboard (analysis/dashboard.py): the list of jobs and a job's live page. Served by
// the dashboard itself; no other script, style or font is loaded. Everything a log says is
// written with textContent (never parsed as HTML).
"use strict";

// Script errors are counted on the page itself (the tests read them from the DOM).
document.documentElement.dataset.jsErrors = "0";
window.addEventListener("error", function (e) {
  var d = document.documentElement.dataset;
  d.jsErrors = String(Number(d.jsErrors) + 1);
  d.jsLastError = String(e.message);
});

// State the tests (and a curious user) can read: connections made, messages received.
window.shmjobDashboard = { connects: 0, disconnects: 0, messages: 0, state: "connecting", version: null };

var SVGNS = "http://www.w3.org/2000/svg";

function el(tag, attrs, text) {
  var e = document.createElement(tag);
  if (attrs) for (var k in attrs) if (attrs[k] !== undefined && attrs[k] !== null) e.setAttribute(k, attrs[k]);
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function svgEl(tag, attrs, text) {
  var e = document.createElementNS(SVGNS, tag);
  if (attrs) for (var k in attrs) if (attrs[k] !== undefined && attrs[k] !== null) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = String(text);
  return e;
}

function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

// --- formatting ----------------------------------------------------------------------------

function num(v, digits) {
  if (v === null || v === undefined || !isFinite(v)) return "–";
  return Number(v).toFixed(digits === undefined ? 1 : digits);
}
function int(v) {
  if (v === null || v === undefined) return "?";
  return String(Math.round(v)).replace(/\B(?=(\d{3})+(?!\d))/g, " ");
}
function pct(v) { return (v === null || v === undefined) ? "–" : Math.round(v * 100) + "%"; }
function duration(s) {
  if (s === null || s === undefined || !isFinite(s)) return "–";
  s = Math.max(0, Math.round(s));
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
  return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
}
function seconds(s) {
  if (s === null || s === undefined) return "–";
  if (s < 1e-3) return Math.round(s * 1e6) + " µs";
  if (s < 1) return (s * 1e3).toFixed(1) + " ms";
  return s.toFixed(2) + " s";
}
function localTime(epoch) {
  if (!epoch) return "–";
  var d = new Date(epoch * 1000);
  var pad = function (n) { return (n < 10 ? "0" : "") + n; };
  return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + pad(d.getHours()) + ":" +
    pad(d.getMinutes()) + ":" + pad(d.getSeconds());
}
function progressText(s) {
  if (s.written === null || s.written === undefined) return "–";
  return int(s.written) + " of " + int(s.expected);
}
function rateText(s) {
  if (s.mb_per_s_in === null && s.mb_per_s_out === null) return "–";
  return num(s.mb_per_s_in) + " / " + num(s.mb_per_s_out) + " MB/s";
}
function etaText(s) {
  if (s.status === "complete") return "done";
  if (s.status !== "running" && s.status !== "starting") return "–";
  return s.eta_s === null || s.eta_s === undefined ? "–" : duration(s.eta_s);
}

// --- the WebSocket: reconnects by itself ---------------------------------------------------

function connect(path, onMessage) {
  var conn = document.getElementById("conn");
  var delay = 500;
  function setState(state, text) {
    window.shmjobDashboard.state = state;
    conn.dataset.state = state;
    conn.textContent = text;
  }
  function open() {
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
    setState("connecting", "connecting…");
    var ws = new WebSocket(url);
    ws.onopen = function () {
      window.shmjobDashboard.connects += 1;
      delay = 500;
      setState("open", "live");
    };
    ws.onmessage = function (event) {
      window.shmjobDashboard.messages += 1;
      var data = JSON.parse(event.data);
      window.shmjobDashboard.version = data.version;
      onMessage(data);
    };
    ws.onclose = function (event) {
      if (event.code === 4404) { setState("gone", "no such job"); return; }
      window.shmjobDashboard.disconnects += 1;
      setState("closed", "disconnected: retrying in " + Math.round(delay / 1000 * 10) / 10 + " s…");
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 5000);
    };
  }
  open();
}

// --- charts (inline SVG) -------------------------------------------------------------------

function niceMax(v) {
  if (!(v > 0)) return 1;
  var p = Math.pow(10, Math.floor(Math.log10(v)));
  var steps = [1, 2, 2.5, 5, 10];
  for (var i = 0; i < steps.length; i++) if (steps[i] * p >= v) return steps[i] * p;
  return 10 * p;
}

// series: [{name, colour, t, v, step: "pre"|"post", dash}]; opts: {title, yLabel, percent, yMax, hlines}
function lineChart(container, series, opts) {
  var W = opts.width || 900, H = opts.height || 240, L = 58, R = 12, T = opts.title ? 48 : 30, B = 34;
  var legendY = opts.title ? 34 : 12;
  var svg = svgEl("svg", { viewBox: "0 0 " + W + " " + H, class: "chart", role: "img" });
  var tMax = 0, vMax = 0;
  series.forEach(function (s) {
    s.t.forEach(function (t, i) {
      if (t !== null && t > tMax) tMax = t;
      if (s.v[i] !== null && s.v[i] > vMax) vMax = s.v[i];
    });
  });
  (opts.hlines || []).forEach(function (h) { if (h.v !== null && h.v > vMax) vMax = h.v; });
  var yMax = opts.yMax || niceMax(vMax * 1.05);
  tMax = tMax > 0 ? tMax : 1;
  var x = function (t) { return L + (W - L - R) * t / tMax; };
  var y = function (v) { return H - B - (H - T - B) * Math.min(v, yMax) / yMax; };
  // grid and axes
  for (var i = 0; i <= 4; i++) {
    var v = yMax * i / 4, yy = y(v);
    svg.appendChild(svgEl("line", { x1: L, x2: W - R, y1: yy, y2: yy, class: "grid" }));
    svg.appendChild(svgEl("text", { x: L - 6, y: yy + 4, class: "tick", "text-anchor": "end" },
      opts.percent ? Math.round(v * 100) + "%" : String(Number(v.toPrecision(3)))));
  }
  var tStep = niceMax(tMax / 6);
  for (var t = 0; t <= tMax + 1e-9; t += tStep) {
    svg.appendChild(svgEl("text", { x: x(t), y: H - B + 16, class: "tick", "text-anchor": "middle" },
      tStep >= 1 ? Math.round(t) : t.toFixed(1)));
  }
  svg.appendChild(svgEl("text", { x: (L + W - R) / 2, y: H - 4, class: "axis", "text-anchor": "middle" }, "seconds since start"));
  if (opts.yLabel) {
    svg.appendChild(svgEl("text", { x: 14, y: (T + H - B) / 2, class: "axis", "text-anchor": "middle",
      transform: "rotate(-90 14 " + (T + H - B) / 2 + ")" }, opts.yLabel));
  }
  (opts.hlines || []).forEach(function (h) {
    if (h.v === null || h.v === undefined) return;
    svg.appendChild(svgEl("line", { x1: L, x2: W - R, y1: y(h.v), y2: y(h.v), stroke: h.colour, class: "avg" }));
  });
  // lines (steps), broken where a value is missing
  series.forEach(function (s) {
    var d = "", pen = false, prevT = 0;
    for (var i = 0; i < s.t.length; i++) {
      var t = s.t[i], v = s.v[i];
      if (t === null || v === null) { pen = false; prevT = t === null ? prevT : t; continue; }
      if (s.step === "pre") {
        d += (pen ? "L" : "M") + x(prevT).toFixed(1) + "," + y(v).toFixed(1) + "L" + x(t).toFixed(1) + "," + y(v).toFixed(1);
      } else {
        var next = i + 1 < s.t.length && s.t[i + 1] !== null ? s.t[i + 1] : t;
        d += (pen ? "L" : "M") + x(t).toFixed(1) + "," + y(v).toFixed(1) + "L" + x(next).toFixed(1) + "," + y(v).toFixed(1);
      }
      pen = true;
      prevT = t;
    }
    var path = svgEl("path", { d: d || "M0,0", stroke: s.colour, class: "line" + (s.dash ? " dash" : "") });
    path.dataset.points = String(s.t.length);
    path.dataset.series = s.name;
    svg.appendChild(path);
  });
  // legend
  var lx = L;
  series.concat(opts.hlines || []).forEach(function (s) {
    if (s.v === null) return;
    svg.appendChild(svgEl("line", { x1: lx, x2: lx + 18, y1: legendY, y2: legendY, stroke: s.colour, class: s.t ? "line" : "avg" }));
    var label = svgEl("text", { x: lx + 22, y: legendY + 4, class: "legend" }, s.name || s.label);
    svg.appendChild(label);
    lx += 30 + 6.4 * String(s.name || s.label).length;
  });
  if (opts.title) svg.appendChild(svgEl("text", { x: L, y: 14, class: "title" }, opts.title));
  clear(container).appendChild(svg);
}

function noData(container, text) {
  clear(container).appendChild(el("p", { class: "empty" }, text));
}

// --- the list ------------------------------------------------------------------------------

function badge(status) {
  var b = el("span", { class: "badge" }, status);
  b.dataset.status = status;
  return b;
}

function renderList(data) {
  document.getElementById("dirs").textContent = "Metrics logs under " + data.dirs.join(", ");
  var notice = document.getElementById("notice");
  notice.hidden = !data.too_many;
  notice.textContent = data.too_many ? "More logs than the dashboard follows (" + data.max_jobs + "): some are not shown." : "";
  var body = document.querySelector("#jobs tbody");
  var seen = {};
  data.jobs.forEach(function (s, index) {
    seen[s.id] = true;
    var row = document.getElementById("job-" + s.id);
    if (!row) {
      row = el("tr", { id: "job-" + s.id, class: "job" });
      for (var i = 0; i < 7; i++) row.appendChild(el("td"));
    }
    if (body.children[index] !== row) body.insertBefore(row, body.children[index] || null);
    row.dataset.status = s.status;
    var c = row.children;
    clear(c[0]);
    c[0].appendChild(el("a", { href: s.url, class: "job-link" }, s.name));
    c[0].appendChild(el("div", { class: "path" }, s.path));
    clear(c[1]).appendChild(badge(s.status));
    if (s.note) c[1].appendChild(el("div", { class: "path" }, s.note));
    clear(c[2]);
    var bar = el("div", { class: "bar small" });
    var fill = el("div", { class: "fill" });
    fill.style.width = Math.round(100 * (s.fraction || 0)) + "%";
    bar.appendChild(fill);
    c[2].appendChild(el("span", { class: "count" }, progressText(s)));
    c[2].appendChild(bar);
    c[3].textContent = rateText(s);
    c[4].textContent = etaText(s);
    c[5].textContent = localTime(s.epoch_s);
    clear(c[6]).appendChild(el("a", { href: s.report, class: "report-link" }, s.status === "running" ? "report so far" : "report.html"));
  });
  Array.prototype.slice.call(body.children).forEach(function (row) {
    if (!seen[row.id.slice(4)]) body.removeChild(row);
  });
  document.getElementById("empty").hidden = data.jobs.length > 0;
}

// --- a job's page --------------------------------------------------------------------------

function figure(label, value, key) {
  var f = el("div", { class: "figure" });
  if (key) f.dataset.key = key;
  f.appendChild(el("div", { class: "value" }, value));
  f.appendChild(el("div", { class: "label" }, label));
  return f;
}

function renderVerdict(v) {
  var box = clear(document.getElementById("verdict"));
  if (v.error) { box.appendChild(el("p", { class: "empty" }, v.error)); return; }
  box.dataset.stage = v.stage;
  var title = v.stage === "none" ? "no single bottleneck" : "bottleneck: " + v.plural;
  if (v.provisional) title += v.t !== null ? " (provisional, as of " + num(v.t) + " s)" : " (provisional)";
  box.appendChild(el("div", { class: "stage" }, title));
  box.appendChild(el("div", { class: "sentence" }, v.sentence));
  if (v.suggestion) box.appendChild(el("div", { class: "suggestion" }, "What to change: " + v.suggestion));
}

function renderStages(st) {
  var box = clear(document.getElementById("stages"));
  if (st.error) { box.appendChild(el("p", { class: "empty" }, st.error)); return; }
  if (!st.rows.length) { box.appendChild(el("p", { class: "empty" }, "No stage utilisation yet.")); return; }
  var legend = el("div", { class: "legend-row" });
  st.rows[0].parts.concat([{ label: st.other_label, colour: st.other_colour }]).forEach(function (p) {
    var key = el("span", { class: "key" });
    key.style.background = p.colour;
    var item = el("span", { class: "legend-item" });
    item.appendChild(key);
    item.appendChild(document.createTextNode(p.label));
    legend.appendChild(item);
  });
  st.rows.forEach(function (row) {
    var line = el("div", { class: "stage-row" });
    line.dataset.stage = row.stage;
    line.appendChild(el("div", { class: "stage-label" }, row.label));
    var bar = el("div", { class: "stack" });
    var left = 0;
    row.parts.forEach(function (p) {
      var w = Math.max(0, Math.min(1 - left, p.value || 0));
      left += w;
      var seg = el("div", { class: "seg", title: p.label + ": " + pct(p.value) }, w >= 0.07 ? pct(p.value) : "");
      seg.dataset.part = p.part;
      seg.style.width = (100 * w).toFixed(2) + "%";
      seg.style.background = p.colour;
      bar.appendChild(seg);
    });
    var rest = el("div", { class: "seg other", title: st.other_label });
    rest.style.width = (100 * Math.max(0, 1 - left)).toFixed(2) + "%";
    rest.style.background = st.other_colour;
    bar.appendChild(rest);
    line.appendChild(bar);
    box.appendChild(line);
  });
  box.appendChild(legend);
  if (!st.final) box.appendChild(el("p", { class: "sub" }, "So far (node 0's latest sample); the job's totals replace it when it ends."));
}

function renderNodes(nodes) {
  var box = clear(document.getElementById("nodes"));
  if (nodes.error) { box.appendChild(el("p", { class: "empty" }, nodes.error)); return; }
  var table = el("table", { class: "nodes" });
  var head = el("tr");
  ["node", "host", "matrices", "share", nodes.length && nodes[0].final ? "shards" : "queued (ready / writer inboxes)"]
    .forEach(function (h) { head.appendChild(el("th", null, h)); });
  table.appendChild(head);
  nodes.forEach(function (n) {
    var tr = el("tr");
    tr.appendChild(el("td", null, n.node));
    tr.appendChild(el("td", null, n.host || "?"));
    tr.appendChild(el("td", { class: "num" }, int(n.matrices)));
    var share = el("td");
    var bar = el("div", { class: "bar small" });
    var fill = el("div", { class: "fill" });
    fill.style.width = Math.round(100 * (n.share || 0)) + "%";
    bar.appendChild(fill);
    share.appendChild(el("span", null, pct(n.share)));
    share.appendChild(bar);
    tr.appendChild(share);
    tr.appendChild(el("td", { class: "num" }, n.final ? n.shards : (n.ready === undefined ? "–" : n.ready + " / " + n.inbox)));
    table.appendChild(tr);
  });
  box.appendChild(table);
  box.appendChild(el("p", { class: "sub" }, nodes.length > 1
    ? "Each node's writers' matrices. Producers of every node claim blocks of matrices from one job-wide counter, so a slower node takes fewer."
    : "One node: it writes every matrix."));
}

function renderEvents(events, total) {
  var box = clear(document.getElementById("events"));
  if (events.error) { box.appendChild(el("p", { class: "empty" }, events.error)); return; }
  if (!events.length) { box.appendChild(el("p", { class: "empty" }, "No event yet (warnings, signals, errors and stalls appear here as they happen).")); return; }
  var table = el("table", { class: "events" });
  var head = el("tr");
  ["time", "level", "kind", "rank", "message"].forEach(function (h) { head.appendChild(el("th", null, h)); });
  table.appendChild(head);
  events.forEach(function (e) {
    var tr = el("tr", { class: e.level });
    tr.appendChild(el("td", null, num(e.t, 2) + " s"));
    tr.appendChild(el("td", null, e.level));
    tr.appendChild(el("td", null, e.kind));
    tr.appendChild(el("td", null, e.rank === null ? "" : e.rank));
    tr.appendChild(el("td", null, e.message));
    table.appendChild(tr);
  });
  box.appendChild(table);
  if (total > events.length) box.appendChild(el("p", { class: "sub" }, "The latest " + events.length + " of " + total + " events."));
}

function renderJob(data) {
  if (data.type === "gone") return;
  var s = data.summary;
  document.title = "shmjob: " + s.name + " " + progressText(s) + " (" + s.status + ")";
  document.getElementById("name").textContent = s.name;
  var status = document.getElementById("status");
  status.textContent = s.status;
  status.dataset.status = s.status;
  document.getElementById("path").textContent = s.path + (s.started ? " · started " + localTime(s.epoch_s) : "");
  document.getElementById("report").setAttribute("href", s.report);
  var note = document.getElementById("note");
  var notes = [];
  if (s.note) notes.push(s.note);
  if (s.capped) notes.push("The log is larger than the dashboard reads (--max-log-mb): what follows is not shown.");
  if (s.long_lines) notes.push(s.long_lines + " over-long line(s) skipped.");
  if (data.bad_lines) notes.push(data.bad_lines + " line(s) that are not JSON (a cut last line?).");
  note.textContent = notes.join(" ");
  note.hidden = !notes.length;

  document.getElementById("progress").textContent = progressText(s);
  document.getElementById("bar-fill").style.width = Math.round(100 * (s.fraction || 0)) + "%";
  var figs = clear(document.getElementById("figures"));
  var lat = data.latency || {};
  figs.appendChild(figure("ETA", etaText(s), "eta"));
  figs.appendChild(figure(s.status === "running" ? "matrices/s (last 10 s)" : "matrices/s", num(s.matrices_per_s), "rate"));
  figs.appendChild(figure(s.status === "running" ? "MB/s in / out (last 10 s)" : "MB/s in / out", rateText(s), "mbps"));
  figs.appendChild(figure(s.status === "running" || s.status === "starting" ? "since start (last sample)" : "data-flow time",
    s.t === null ? "–" : duration(s.t), "elapsed"));
  figs.appendChild(figure("latency p50 / p99" + (lat.final ? "" : " (last sample)"),
    lat.p50_s === undefined ? "–" : seconds(lat.p50_s) + " / " + seconds(lat.p99_s), "latency"));

  renderVerdict(data.verdict);

  var headline = clear(document.getElementById("headline"));
  document.getElementById("headline-section").hidden = !data.headline.length;
  data.headline.forEach(function (f) { headline.appendChild(figure(f.label, f.text, f.key)); });

  var tp = data.throughput, tpBox = document.getElementById("throughput");
  if (tp.error) noData(tpBox, tp.error);
  else if (tp.t.length < 1) noData(tpBox, "Not enough samples for a time series yet.");
  else lineChart(tpBox, [
    { name: "in (raw bytes compressed)", colour: "#4e79a7", t: tp.t, v: tp.in, step: "pre" },
    { name: "out (bytes written)", colour: "#59a14f", t: tp.t, v: tp.out, step: "pre" }],
    { yLabel: "MB/s", hlines: [{ label: "average in", colour: "#4e79a7", v: tp.avg_in === undefined ? null : tp.avg_in },
                               { label: "average out", colour: "#59a14f", v: tp.avg_out === undefined ? null : tp.avg_out }] });

  renderStages(data.stages);

  var q = data.queues, qBox = document.getElementById("queues"), sBox = document.getElementById("slots");
  if (q.error) { noData(qBox, q.error); noData(sBox, ""); }
  else if (!q.t.length) { noData(qBox, "No samples yet."); noData(sBox, ""); }
  else {
    lineChart(qBox, [{ name: "ready for compression", colour: "#f28e2b", t: q.t, v: q.ready, step: "post" },
                     { name: "waiting for a writer", colour: "#59a14f", t: q.t, v: q.inbox, step: "post" }],
              { title: "queue depth (matrices), node 0", width: 520, height: 260 });
    lineChart(sBox, [{ name: "raw slots (producers')", colour: "#4e79a7", t: q.t, v: q.raw, step: "post" },
                     { name: "compressed slots (compressors')", colour: "#f28e2b", t: q.t, v: q.compressed, step: "post" }],
              { title: "slots in use, node 0", percent: true, yMax: 1, width: 520, height: 260 });
  }
  renderNodes(data.nodes);
  renderEvents(data.events, data.events_total);

  var facts = clear(document.querySelector("#facts tbody"));
  (data.facts.error ? [["", data.facts.error]] : data.facts).forEach(function (kv) {
    var tr = el("tr");
    tr.appendChild(el("td", null, kv[0]));
    tr.appendChild(el("td", null, kv[1]));
    facts.appendChild(tr);
  });
  document.documentElement.dataset.rendered = "1";
}

document.addEventListener("DOMContentLoaded", function () {
  var kind = document.body.dataset.page;
  if (kind === "list") {
    connect("/ws", function (data) { renderList(data); document.documentElement.dataset.rendered = "1"; });
  } else if (kind === "job") {
    connect("/ws/job/" + encodeURIComponent(document.body.dataset.job), renderJob);
  }
});
