#!/usr/bin/python3
"""Live dashboard of shmjob jobs: every metrics log under the given directories, running or
finished, in a browser, updated over a WebSocket as the logs grow.

    /usr/bin/python3 analysis/dashboard.py out/                       # http://127.0.0.1:8050/
    /usr/bin/python3 analysis/dashboard.py --token T --port 8051 out/ /scratch/me/runs
    SHMJOB_DASHBOARD_TOKEN=T /usr/bin/python3 analysis/dashboard.py out/

A list of the jobs (status, progress, throughput, start, links to each job's page and report)
and a page per job (N of M and the ETA, throughput over time, per-stage busy/wait, queues and
slots, per-node shares, the bottleneck verdict as it forms, events). One reader per log reads
only what was appended and its result goes to every viewer; pages reconnect by themselves when
the server restarts. Everything the pages load comes from the dashboard (no CDN).

Security: listens on 127.0.0.1 unless --host says otherwise (and refuses a non-loopback
address without a token); with a token every HTTP request and WebSocket must carry it (the URL
printed at start sets a cookie); nothing outside the directories is served; reads are bounded.
Debian's python3-fastapi, python3-uvicorn, python3-websockets. Guide: docs/dashboard.md.
"""
import argparse
import asyncio
import hashlib
import hmac
import html
import ipaddress
import json
import os
import re
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import shmjob_live as sl  # noqa: E402

from fastapi import FastAPI, WebSocket  # noqa: E402
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response  # noqa: E402
from starlette.websockets import WebSocketDisconnect  # noqa: E402

TOKEN_ENV = "SHMJOB_DASHBOARD_TOKEN"
STATIC_DIR = os.path.join(HERE, "dashboard_static")
JOB_ID = re.compile(r"^[0-9a-f]{16}$")
NODE_LOG = re.compile(r"^(.+)\.node([0-9]{1,4})$")
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}


class Limits:
    """Every bound on what the dashboard reads or keeps (docs/dashboard.md, "Limits")."""
    poll_s = 0.5              # how often the logs are looked at
    scan_s = 1.0              # shortest interval between two walks of the directories
    read_per_poll = 8 << 20   # bytes read per poll, all logs together
    read_per_log = 2 << 20    # bytes read per poll from one log
    max_line = 8 << 20        # a longer line is skipped (its bytes are read, never held whole)
    max_log = 1 << 30         # a log is read this far and no further
    max_jobs = 500            # logs followed
    scan_entries = 100_000    # directory entries looked at per walk
    scan_depth = 8            # directory levels below each DIR
    sniff = 4096              # bytes of a *.jsonl file read to see whether it is a metrics log
    max_report = 64 << 20     # report.html served, and logs rendered into one on demand
    max_clients = 256         # WebSockets at once
    ws_message = 4096         # largest message a browser may send (it sends none)
    headers = 32 << 10        # request headers, all together (uvicorn's h11 stops a request at ~256 KB)


# --- files: only inside the directories ---------------------------------------------------

class Roots:
    """The directories given on the command line (resolved), and the one rule for every file
    the dashboard opens: its real path, read from the open descriptor, is inside one of them."""

    def __init__(self, dirs):
        self.paths = []
        for d in dirs:
            real = os.path.realpath(d)
            if not os.path.isdir(real):
                raise SystemExit(f"dashboard: {d}: not a directory")
            self.paths.append(real)

    def owner(self, real):
        """Index of the root holding the real path `real`, or None."""
        for i, root in enumerate(self.paths):
            if real == root or real.startswith(root.rstrip("/") + "/"):
                return i
        return None

    def open(self, path):
        """A read-only descriptor of `path` if it is a regular file inside a root, else OSError.
        Non-blocking (a FIFO cannot hang the server); checked after open, on the descriptor
        itself, so a symlink swapped in between cannot lead outside."""
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
        try:
            real = os.readlink(f"/proc/self/fd/{fd}")
            if self.owner(real) is None:
                raise PermissionError(f"{path}: outside the dashboard's directories")
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise PermissionError(f"{path}: not a regular file")
        except BaseException:
            os.close(fd)
            raise
        return fd


def is_metrics_log(roots, path):
    """A *.metrics.jsonl file, or a *.jsonl file whose first bytes are a job_start record."""
    if path.endswith(".metrics.jsonl"):
        return True
    try:
        fd = roots.open(path)
    except OSError:
        return False
    try:
        head = os.pread(fd, Limits.sniff, 0)
    finally:
        os.close(fd)
    return head.lstrip().startswith(b"{") and re.search(rb'"type"\s*:\s*"job_start"', head) is not None


def scan(roots, known_negative):
    """Walks the directories (no symlinked directory is entered; a symlinked file counts only
    if it resolves inside a root): {real path of a log: (root index, [(node, real path of a
    node log)])}. Bounded by Limits.scan_entries and scan_depth."""
    found, node_logs = {}, []
    entries = 0
    for index, root in enumerate(roots.paths):
        base_depth = root.rstrip("/").count("/")
        for directory, subdirs, files in os.walk(root, followlinks=False):
            if directory.count("/") - base_depth >= Limits.scan_depth:
                subdirs[:] = []
            subdirs[:] = [d for d in subdirs if not d.startswith(".")]
            entries += len(subdirs) + len(files)
            if entries > Limits.scan_entries:
                break
            for name in files:
                if ".jsonl" not in name:
                    continue
                path = os.path.join(directory, name)
                real = os.path.realpath(path)
                if roots.owner(real) is None:
                    continue
                match = NODE_LOG.match(real)
                if match and match.group(1).endswith(".jsonl"):
                    node_logs.append((match.group(1), int(match.group(2)), real))
                    continue
                if not real.endswith(".jsonl") or real in found:
                    continue
                try:
                    st = os.stat(real)
                except OSError:
                    continue
                if not stat.S_ISREG(st.st_mode):
                    continue
                key = (real, st.st_ino, st.st_mtime)
                if key in known_negative:
                    continue
                if is_metrics_log(roots, real):
                    found[real] = (roots.owner(real), [])
                elif st.st_size > 0:
                    known_negative.add(key)
    for log, node, real in node_logs:
        if log in found:
            found[log][1].append((node, real))
    return found


# --- jobs: one reader per log, shared by every viewer -------------------------------------

def job_id(real):
    return hashlib.sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:16]


class Job:
    def __init__(self, dashboard, real, root):
        self.dashboard = dashboard
        self.real = real
        self.root = root
        self.id = job_id(real)
        self.display = os.path.join(os.path.basename(dashboard.roots.paths[root]),
                                    os.path.relpath(real, dashboard.roots.paths[root]))
        self.tails = {0: self._tail(real)}
        self.run = sl.LiveRun(real)
        self.version = 0
        self._changed = asyncio.Event()
        self.status, self.note = "starting", ""
        self.summary = None
        self.last_growth = time.monotonic()
        self.idle_base = 0.0               # the log's age when first seen
        self._text = (-1, None)
        self.frozen = None                 # a finished job's final page, its samples dropped
        self.viewers = 0
        self.report_cache = None           # (log size, mtime, bytes) of a rendered report

    def _tail(self, path):
        return sl.LogTail(path, max_line=Limits.max_line, max_bytes=Limits.max_log, opener=self.dashboard.roots.open)

    def add_node_log(self, node, real):
        if node not in self.tails and node > 0:
            self.tails[node] = self._tail(real)

    @property
    def interval(self):
        return float((((self.run.start or {}).get("config") or {}).get("metrics") or {}).get("interval_s") or 1.0)

    def poll(self, budget):
        """Reads what was appended to the job's logs (node 0's first): (bytes read, changed, more)."""
        used, changed, more = 0, False, False
        for node in sorted(self.tails):
            tail = self.tails[node]
            lines, n, reset, left = tail.poll(max(0, min(Limits.read_per_log, budget - used)))
            used += n
            more = more or left
            if reset:
                changed = True
                self.frozen = None
                if node == 0:
                    self.run.restart()
            for line in lines:
                changed = self.run.add_line(line, node_file=node > 0) or changed
            if n:
                self.last_growth = time.monotonic()
                self.idle_base = 0.0
                if self.frozen is not None:
                    self.frozen = None
                changed = True
        if self.summary is None and self.tails[0].mtime:
            self.idle_base = max(0.0, time.time() - self.tails[0].mtime)
        idle = self.idle_base + time.monotonic() - self.last_growth
        status = sl.live_status(self.run, idle, max(self.dashboard.stall_after, 5 * self.interval))
        errors = [t.error for t in self.tails.values() if t.error]
        if errors:
            status = (status[0], f"cannot read the log: {errors[0]}"[:300])
        if changed or status != (self.status, self.note) or self.summary is None:
            self.status, self.note = status
            self.summary = self._summary()
            self._bump()
            changed = True
        if self.run.end and not more and self.frozen is None:
            # Finished and read to the end: its page no longer changes. Keep that and let the
            # samples go (a finished job costs its page, not its log).
            self.frozen = self.text()
            self.run.by_node = {}
        return used, changed, more

    def _summary(self):
        s = sl.summary(self.run, self.status, self.note)
        last_record = time.time() - self.idle_base - (time.monotonic() - self.last_growth)
        s.update(id=self.id, path=self.display, last_record_epoch=round(last_record, 1), url=f"/job/{self.id}",
                 report=f"/job/{self.id}/report.html",
                 capped=any(t.capped for t in self.tails.values()),
                 long_lines=sum(t.long_lines for t in self.tails.values()))
        return s

    def _bump(self):
        self.version += 1
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_change(self, seen):
        while self.version == seen:
            await self._changed.wait()

    def text(self):
        """The job page's message for the current version, built once for every viewer."""
        if self.frozen is not None:
            return self.frozen
        version, text = self._text
        if version != self.version:
            view = sl.job_view(self.run, self.status, self.note)
            view["summary"] = self.summary
            view["type"] = "job"
            view["version"] = self.version
            view["read"] = {"bytes": sum(t.bytes_read for t in self.tails.values()),
                            "size": sum(t.size for t in self.tails.values()),
                            "logs": len(self.tails)}
            text = json.dumps(view, allow_nan=False, separators=(",", ":"))
            self._text = (self.version, text)
        return text


class Dashboard:
    def __init__(self, roots, stall_after=30.0):
        self.roots = roots
        self.stall_after = stall_after
        self.jobs = {}                 # id -> Job
        self.by_path = {}              # real path -> id
        self.negative = set()
        self.list_version = 0
        self._list_changed = asyncio.Event()
        self._list_text = (-1, None)
        self.clients = 0
        self.scans = 0
        self.scan_seconds = 0.0
        self.too_many = False
        self._scan_lock = asyncio.Lock()
        self._last_scan = 0.0

    async def rescan(self, force=False):
        async with self._scan_lock:
            if not force and time.monotonic() - self._last_scan < max(Limits.scan_s, 20 * self.scan_seconds):
                return
            started = time.monotonic()
            found = await asyncio.to_thread(scan, self.roots, self.negative)
            self.scan_seconds = time.monotonic() - started
            self._last_scan = time.monotonic()
            self.scans += 1
            if len(self.negative) > 10 * Limits.max_jobs:
                self.negative.clear()
            changed = False
            for real, (root, nodes) in found.items():
                jid = self.by_path.get(real)
                if jid is None:
                    if len(self.jobs) >= Limits.max_jobs:
                        self.too_many = True
                        continue
                    job = Job(self, real, root)
                    self.jobs[job.id] = job
                    self.by_path[real] = job.id
                    jid = job.id
                    changed = True
                for node, node_real in nodes:
                    self.jobs[jid].add_node_log(node, node_real)
            for real in [p for p in self.by_path if p not in found]:
                job = self.jobs.pop(self.by_path.pop(real))
                job.status, job.note = "removed", "the log is gone"
                job._bump()
                changed = True
            if changed:
                self.bump_list()

    def bump_list(self):
        self.list_version += 1
        self._list_changed.set()
        self._list_changed = asyncio.Event()

    async def wait_list(self, seen):
        while self.list_version == seen:
            await self._list_changed.wait()

    def poll_once(self):
        budget = Limits.read_per_poll
        changed_list, more = False, False
        # Jobs someone watches first, then the rest; a job that did not get its turn gets it next time.
        for job in sorted(self.jobs.values(), key=lambda j: -j.viewers):
            used, changed, left = job.poll(budget)
            budget -= used
            changed_list = changed_list or changed
            more = more or left
            if budget <= 0:
                more = True
                break
        if changed_list:
            self.bump_list()
        return more

    async def run(self):
        while True:
            try:
                await self.rescan()
                more = self.poll_once()
            except Exception as e:  # keep serving whatever one log does
                print(f"dashboard: poll: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
                more = False
            await asyncio.sleep(0.05 if more else Limits.poll_s)

    def list_text(self):
        version, text = self._list_text
        if version != self.list_version:
            jobs = sorted((j.summary for j in self.jobs.values() if j.summary),
                          key=lambda s: (-(s.get("epoch_s") or 0), s["path"]))
            text = json.dumps({"type": "list", "version": self.list_version, "jobs": jobs,
                               "dirs": self.roots.paths, "too_many": self.too_many,
                               "max_jobs": Limits.max_jobs}, allow_nan=False, separators=(",", ":"))
            self._list_text = (self.list_version, text)
        return text


# --- security ----------------------------------------------------------------------------

def is_loopback(host):
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def cookie_name(token):
    return "shmjob_dashboard_" + hashlib.sha256(token.encode()).hexdigest()[:12]


STRICT_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
              "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
# A report is a page of its own (inline styles and SVG, a small inline script): sandboxed, so
# whatever it holds can neither reach the dashboard's data nor its cookie.
REPORT_CSP = ("sandbox allow-scripts; default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
              "img-src data:; frame-ancestors 'none'")


class Guard:
    """ASGI middleware in front of every HTTP request and WebSocket: the Host header (a
    loopback listener answers only to loopback names: no DNS rebinding), the Origin of a
    WebSocket (same host only), the token, and the response headers."""

    def __init__(self, app, token, loopback):
        self.app = app
        self.token = token
        self.cookie = cookie_name(token) if token else None
        self.loopback = loopback

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        raw = scope.get("headers", [])
        if sum(len(k) + len(v) + 4 for k, v in raw) + len(scope.get("query_string", b"")) > Limits.headers:
            return await self.refuse(scope, receive, send, 431, "Request headers too large.")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw}
        host = headers.get("host", "")
        hostname = urllib.parse.urlsplit("//" + host).hostname or ""
        if self.loopback and not is_loopback(hostname):
            return await self.refuse(scope, receive, send, 421, "This dashboard answers to localhost only.")
        if scope["type"] == "websocket" and "origin" in headers:
            origin = urllib.parse.urlsplit(headers["origin"])
            if origin.netloc.lower() != host.lower():
                return await self.refuse(scope, receive, send, 403, "WebSocket from another origin.")
        query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
        via_query = False
        if self.token:
            given = None
            if "token" in query:
                given, via_query = query["token"][-1], True
            elif headers.get("authorization", "").lower().startswith("bearer "):
                given = headers["authorization"][7:].strip()
            else:
                given = _cookies(headers.get("cookie", "")).get(self.cookie)
            if not given:
                return await self.refuse(scope, receive, send, 401,
                                         "This dashboard needs its token: open the URL it printed at start "
                                         "(…/?token=…), or send 'Authorization: Bearer TOKEN'.")
            if not hmac.compare_digest(given.encode("utf-8", "replace"), self.token.encode()):
                return await self.refuse(scope, receive, send, 403, "Wrong token.")
        if scope["type"] == "http" and via_query and scope["method"] in ("GET", "HEAD"):
            # The token came in the URL: keep it in a cookie and take it out of the address bar.
            rest = [(k, v) for k, vs in query.items() if k != "token" for v in vs]
            location = scope["path"] + ("?" + urllib.parse.urlencode(rest) if rest else "")
            response = Response(status_code=303, headers={"location": urllib.parse.quote(location, safe="/?=&")})
            response.set_cookie(self.cookie, self.token, httponly=True, samesite="strict", path="/")
            return await self._with_headers(response)(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message = dict(message, headers=_security_headers(message.get("headers", [])))
            await send(message)

        return await self.app(scope, receive, send_with_headers)

    async def refuse(self, scope, receive, send, status, message):
        if scope["type"] == "websocket":
            # Before accept: uvicorn answers the handshake with HTTP 403.
            await receive()
            await send({"type": "websocket.close", "code": 1008})
            return
        page = (f"<!DOCTYPE html><html><head><meta charset=utf-8><title>{status}</title></head><body>"
                f"<p>{html.escape(message)}</p></body></html>")
        headers = {"www-authenticate": 'Bearer realm="shmjob dashboard"'} if status == 401 else {}
        await self._with_headers(HTMLResponse(page, status_code=status, headers=headers))(scope, receive, send)

    @staticmethod
    def _with_headers(response):
        response.raw_headers = _security_headers(response.raw_headers)
        return response


def _security_headers(raw):
    names = {k.lower() for k, _ in raw}
    extra = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
             (b"cache-control", b"no-store"), (b"x-frame-options", b"DENY")]
    if b"content-security-policy" not in names:
        extra.append((b"content-security-policy", STRICT_CSP.encode()))
    return list(raw) + [(k, v) for k, v in extra if k not in names]


def _cookies(header):
    out = {}
    for part in header.split(";"):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip()] = v.strip().strip('"')
    return out


# --- pages -------------------------------------------------------------------------------

def load_static():
    assets = {}
    types = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
    for name in sorted(os.listdir(STATIC_DIR)):
        ext = os.path.splitext(name)[1]
        if ext in types:
            with open(os.path.join(STATIC_DIR, name), "rb") as f:
                assets[name] = (f.read(), types[ext])
    return assets


def page(title, body_attrs, body):
    return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{html.escape(title)}</title><link rel="icon" href="/static/favicon.svg">'
            '<link rel="stylesheet" href="/static/dashboard.css"><script src="/static/dashboard.js"></script>'
            f'</head><body {body_attrs}>{body}</body></html>')


LIST_BODY = """<header><h1>shmjob jobs</h1>
<span id="conn" class="conn" data-state="connecting">connecting…</span></header>
<main><p class="sub" id="dirs"></p><p id="notice" class="notice" hidden></p>
<table id="jobs" class="jobs"><thead><tr><th>job</th><th>status</th><th>matrices written</th><th>MB/s in / out</th>
<th>ETA</th><th>started</th><th>report</th></tr></thead><tbody></tbody></table>
<p id="empty" class="empty" hidden>No metrics log under these directories yet: jobs appear here as they
start.</p></main>"""

JOB_BODY = """<header><a href="/" class="back">← all jobs</a><h1 id="name">job</h1>
<span id="status" class="badge">…</span><span id="conn" class="conn" data-state="connecting">connecting…</span>
<a id="report" class="report-link" href="#">full report</a></header>
<main><p class="sub" id="path"></p><p id="note" class="notice" hidden></p>
<section class="progress-box">
<div class="bignum"><span id="progress">–</span><span class="unit"> matrices written</span></div>
<div class="bar"><div id="bar-fill" class="fill"></div></div>
<div class="figures" id="figures"></div></section>
<section><h2>Bottleneck</h2><div id="verdict" class="verdict"></div></section>
<section id="headline-section" hidden><h2>Headline</h2><div id="headline" class="headline"></div></section>
<section><h2>Throughput over time</h2><div class="plot" id="throughput"></div></section>
<section><h2>Where the time went, per stage</h2><div id="stages" class="stages"></div>
<p class="sub">Each bar is 100% of the stage's rank-seconds so far. Busy: CPU work; disk: writers inside HDF5
writes; input: nothing to work on (the stage before is slower); free slot: output slots all held downstream
(the stage after is slower).</p></section>
<section><h2>Queues and slots</h2>
<div class="pair"><div class="plot" id="queues"></div><div class="plot" id="slots"></div></div></section>
<section><h2>Nodes</h2><div id="nodes"></div></section>
<section><h2>Events</h2><div id="events"></div></section>
<section><h2>Run</h2><table id="facts" class="facts"><tbody></tbody></table></section></main>"""


def create_app(dashboard, token, loopback):
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    assets = load_static()
    report_lock = asyncio.Lock()

    @app.on_event("startup")
    async def startup():
        await dashboard.rescan(force=True)
        dashboard.poll_once()
        app.state.poller = asyncio.create_task(dashboard.run())

    @app.get("/", response_class=HTMLResponse)
    async def index():
        return page("shmjob jobs", 'data-page="list"', LIST_BODY)

    async def find(jid):
        if not JOB_ID.match(jid):
            return None
        if jid not in dashboard.jobs:
            await dashboard.rescan()  # a job that just started may not have been seen yet
        return dashboard.jobs.get(jid)

    @app.get("/job/{jid}", response_class=HTMLResponse)
    async def job_page(jid: str):
        job = await find(jid)
        if job is None:
            return PlainTextResponse("no such job", status_code=404)
        return page(f"shmjob: {job.run.name}", f'data-page="job" data-job="{html.escape(job.id)}"', JOB_BODY)

    @app.get("/job/{jid}/report.html")
    async def report(jid: str):
        job = await find(jid)
        if job is None:
            return PlainTextResponse("no such job", status_code=404)
        body = serve_report_file(dashboard.roots, job)
        if body is None:
            async with report_lock:  # one report rendered at a time
                body = await asyncio.to_thread(render_report, dashboard.roots, job)
        if isinstance(body, str):
            return PlainTextResponse(body, status_code=404)
        return Response(body, media_type="text/html; charset=utf-8",
                        headers={"content-security-policy": REPORT_CSP})

    @app.get("/static/{name}")
    async def static(name: str):
        if name not in assets:
            return PlainTextResponse("not found", status_code=404)
        data, media = assets[name]
        return Response(data, media_type=media)

    @app.get("/api/jobs")
    async def api_jobs():
        return Response(dashboard.list_text(), media_type="application/json")

    @app.get("/api/job/{jid}")
    async def api_job(jid: str):
        job = await find(jid)
        if job is None:
            return JSONResponse({"error": "no such job"}, status_code=404)
        return Response(job.text(), media_type="application/json")

    @app.get("/api/stats")
    async def api_stats():
        return {"rss_bytes": rss_bytes(), "clients": dashboard.clients, "scans": dashboard.scans,
                "scan_seconds": dashboard.scan_seconds,
                "jobs": {j.id: {"path": j.display, "status": j.status, "viewers": j.viewers, "version": j.version,
                                "logs": {str(n): {"bytes_read": t.bytes_read, "offset": t.offset, "size": t.size,
                                                  "long_lines": t.long_lines, "capped": t.capped, "error": t.error}
                                         for n, t in j.tails.items()}}
                         for j in dashboard.jobs.values()}}

    async def stream(websocket, next_text, wait):
        """Sends the current message, then each newer one (a slow browser skips to the latest)."""
        if dashboard.clients >= Limits.max_clients:
            await websocket.close(code=1013)
            return
        dashboard.clients += 1
        await websocket.accept()

        async def sender():
            seen = -1
            while True:
                version, text = next_text()
                if version != seen:
                    seen = version
                    await websocket.send_text(text)
                await wait(seen)

        async def receiver():  # the browser sends nothing: this only notices it leaving
            try:
                while True:
                    message = await websocket.receive()
                    if message["type"] == "websocket.disconnect":
                        return
            except WebSocketDisconnect:
                return

        tasks = [asyncio.create_task(sender()), asyncio.create_task(receiver())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            dashboard.clients -= 1
            try:
                await websocket.close()
            except RuntimeError:
                pass

    @app.websocket("/ws")
    async def ws_list(websocket: WebSocket):
        await stream(websocket, lambda: (dashboard.list_version, dashboard.list_text()), dashboard.wait_list)

    @app.websocket("/ws/job/{jid}")
    async def ws_job(websocket: WebSocket, jid: str):
        job = await find(jid)
        if job is None:
            await websocket.accept()
            await websocket.send_text(json.dumps({"type": "gone"}))
            await websocket.close(code=4404)
            return
        job.viewers += 1
        try:
            await stream(websocket, lambda: (job.version, job.text()), job.wait_change)
        finally:
            job.viewers -= 1

    return Guard(app, token, loopback)


def serve_report_file(roots, job):
    """report.html next to the log when it is at least as new as the log: its bytes, an error
    string, or None (render one)."""
    path = os.path.join(os.path.dirname(job.real), "report.html")
    try:
        fd = roots.open(path)
    except FileNotFoundError:
        return None
    except OSError:
        return "report.html is not served (outside the dashboard's directories, or not a file)"
    try:
        st = os.fstat(fd)
        log_mtime = job.tails[0].mtime or 0
        if st.st_mtime + 1 < log_mtime:
            return None  # older than the log: render a fresh one
        if st.st_size > Limits.max_report:
            return f"report.html is larger than {Limits.max_report >> 20} MB"
        chunks, left = [], st.st_size
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def render_report(roots, job):
    """analysis/report.py on the log, in a child process (matplotlib stays out of the server),
    cached until the log changes."""
    try:
        fd = roots.open(job.real)
    except OSError as e:
        return f"log not readable: {e}"
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    if st.st_size > Limits.max_report:
        return f"the log is larger than {Limits.max_report >> 20} MB: run analysis/report.py on it yourself"
    if job.report_cache and job.report_cache[:2] == (st.st_size, st.st_mtime):
        return job.report_cache[2]
    with tempfile.TemporaryDirectory(prefix="shmjob-dashboard-") as tmp:
        out = os.path.join(tmp, "report.html")
        run = subprocess.run([sys.executable, os.path.join(HERE, "report.py"), job.real, "-o", out],
                             capture_output=True, text=True, timeout=300)
        if run.returncode != 0 or not os.path.exists(out):
            return f"report.py failed: {run.stderr[-500:]}"
        with open(out, "rb") as f:
            body = f.read(Limits.max_report + 1)
    if len(body) > Limits.max_report:
        return "the report is too large"
    job.report_cache = (st.st_size, st.st_mtime, body)
    return body


def rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


# --- command line -------------------------------------------------------------------------

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog="Details: docs/dashboard.md")
    p.add_argument("dirs", nargs="+", metavar="DIR", help="directories to look for metrics logs in (recursively)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8050, help="port (default 8050; 0: any free one)")
    p.add_argument("--token", help=f"token every request must carry (default: ${TOKEN_ENV}; none: no token)")
    p.add_argument("--stall-after", type=float, default=30.0,
                   help="a running job without a new record for this many seconds (at least 5 metrics "
                        "intervals) is shown as stalled (default 30)")
    p.add_argument("--max-log-mb", type=float, default=Limits.max_log / 2**20,
                   help=f"read a log this far and no further (default {Limits.max_log >> 20})")
    args = p.parse_args(argv)
    token = args.token if args.token is not None else os.environ.get(TOKEN_ENV) or None
    Limits.max_log = int(args.max_log_mb * 2**20)
    loopback = is_loopback(args.host)
    if not loopback and not token:
        p.error(f"--host {args.host} listens beyond this machine: give a token (--token or ${TOKEN_ENV})")
    roots = Roots(args.dirs)

    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host.strip("[]"), args.port))
    except OSError as e:
        print(f"dashboard: cannot listen on {args.host}:{args.port}: {e.strerror}", file=sys.stderr)
        return 2
    sock.listen(128)
    port = sock.getsockname()[1]

    import uvicorn
    dashboard = Dashboard(roots, stall_after=args.stall_after)
    config = uvicorn.Config(
        create_app(dashboard, token, loopback), log_level="warning", access_log=False, ws="websockets",
        http="h11", lifespan="on", ws_max_size=Limits.ws_message, ws_per_message_deflate=False,
        proxy_headers=False, server_header=False, timeout_keep_alive=5)
    shown = f"[{args.host.strip('[]')}]" if family == socket.AF_INET6 else args.host
    url = f"http://{shown}:{port}/" + (f"?token={urllib.parse.quote(token)}" if token else "")
    # The socket listens already: a browser opening the URL now waits for the first scan.
    print(f"dashboard: {url}  (watching {', '.join(roots.paths)})", flush=True)
    if not token:
        print(f"dashboard: no token: anyone who can reach {args.host}:{port} sees the jobs "
              f"(--token or ${TOKEN_ENV} to require one)", file=sys.stderr, flush=True)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
