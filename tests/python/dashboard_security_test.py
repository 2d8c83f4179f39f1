#!/usr/bin/env python3
"""The dashboard's security and bounds, over real HTTP and WebSocket connections (no MPI, no
browser; logs are made up by helpers.dashboard_common.synthetic_log).

- it listens on 127.0.0.1 when --host is not given (the listening socket in /proc/net/tcp),
  and refuses a non-loopback --host without a token;
- with --token (and with $SHMJOB_DASHBOARD_TOKEN): every route without the token answers 401,
  with a wrong one 403 (pages, assets, API, unknown paths alike); the token works from the
  URL (303 to the same page, token out of the URL, HttpOnly SameSite=Strict cookie), as a
  cookie and as a Bearer header; a WebSocket without it or with a wrong one is refused (403),
  with it (query, cookie, header) accepted;
- a Host header other than a loopback name is refused (421: no DNS rebinding), and a WebSocket
  from another Origin (403);
- nothing outside the directories: a log symlinked from outside and a symlinked directory are
  not listed and their job ids answer 404; `..`, `%2e%2e`, `%2f` in job ids, asset names and
  report paths answer 404 without a byte of the file they aim at; a report.html that is a
  symlink out of the directory or a FIFO is not served (and does not hang the server);
- bounded reads: a 64 MB line is skipped without the server's memory growing by that (RSS),
  the records after it are read; a log bigger than --max-log-mb is read that far only; a
  WebSocket message over the limit closes that connection; request headers of 100 KB (431)
  and 10 MB (uvicorn's own limit) are refused and the server goes on answering;
- the statuses: complete, interrupted, failed (job_end), stalled (no record for a while),
  failed without job_end (an error, then silence), running.

usage: dashboard_security_test.py
"""
import asyncio
import hashlib
import json
import os
import socket
import tempfile
import time

from helpers.dashboard_common import DASHBOARD, Dashboard, skip_without_server, synthetic_log, ws_status
from helpers.report_common import PYTHON, fail

TOKEN = "s3cret-token"
SECRET = "SECRET-CONTENT-OUTSIDE-THE-DIRECTORY"


def check(condition, message):
    if not condition:
        fail(message)


def listening_address(port):
    """Local addresses listening on `port`, from /proc/net/tcp and tcp6."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                address, state = fields[1], fields[3]
                host, hex_port = address.rsplit(":", 1)
                if int(hex_port, 16) == port and state == "0A":
                    if len(host) == 8:
                        found.append(socket.inet_ntop(socket.AF_INET, bytes.fromhex(host)[::-1]))
                    else:
                        found.append("ipv6:" + host)
    return found


def make_tree(tmp):
    root = os.path.join(tmp, "dir")
    outside = os.path.join(tmp, "outside")
    logs = {
        "complete": synthetic_log(os.path.join(root, "complete", "complete.metrics.jsonl"), "complete"),
        "interrupted": synthetic_log(os.path.join(root, "interrupted", "i.metrics.jsonl"), "interrupted",
                                     end_status="interrupted"),
        "failed": synthetic_log(os.path.join(root, "failed", "f.metrics.jsonl"), "failed", end_status="failed"),
        "stalled": synthetic_log(os.path.join(root, "stalled", "s.metrics.jsonl"), "stalled", end_status=None),
        "died": synthetic_log(os.path.join(root, "died", "d.metrics.jsonl"), "died", end_status=None,
                              extra_lines=[json.dumps({"type": "event", "t": 5.5, "level": "error", "kind": "error",
                                                       "rank": 1, "node": 0, "message": "rank 1 failed"}) + "\n"]),
        "running": synthetic_log(os.path.join(root, "running", "r.metrics.jsonl"), "running", end_status=None),
    }
    old = time.time() - 600
    for name in ("stalled", "died"):
        os.utime(logs[name], (old, old))
    # Outside the directory: a log and a secret, reached by symlinks from inside.
    secret_log = synthetic_log(os.path.join(outside, "secret", "secret.metrics.jsonl"), "outside-job")
    with open(os.path.join(outside, "secret.txt"), "w") as f:
        f.write(SECRET + "\n")
    os.symlink(secret_log, os.path.join(root, "linked.metrics.jsonl"))
    os.symlink(os.path.join(outside, "secret"), os.path.join(root, "linkdir"))
    os.symlink(os.path.join(outside, "secret.txt"), os.path.join(root, "complete", "report.html"))
    os.mkfifo(os.path.join(root, "interrupted", "report.html"))
    # A log bigger than the test's --max-log-mb.
    big = synthetic_log(os.path.join(root, "big", "b.metrics.jsonl"), "big", end_status=None)
    with open(big, "r+b") as f:
        f.truncate(512 << 20)  # sparse: 512 MB of zeros after the records
    return root, outside, logs, secret_log


def add_huge_line_log(root):
    """A log with a 64 MB line between two samples (written where the server will find it)."""
    final = os.path.join(root, "huge", "h.metrics.jsonl")
    staging = synthetic_log(os.path.join(root, ".staging", "h.metrics.jsonl"), "huge", end_status=None)
    with open(staging) as f:
        lines = f.readlines()
    with open(staging, "w") as f:
        f.writelines(lines[:3])
        f.write('{"type":"event","message":"' + "x" * (64 << 20) + '"}\n')
        f.writelines(lines[3:])
    os.makedirs(os.path.dirname(final))
    os.rename(staging, final)


def check_statuses(dash):
    wanted = {"complete": "complete", "interrupted": "interrupted", "failed": "failed", "stalled": "stalled",
              "died": "failed", "running": "running"}
    deadline = time.time() + 30
    while True:
        jobs = {j["name"]: j for j in dash.json("/api/jobs")["jobs"]}
        got = {name: jobs.get(name, {}).get("status") for name in wanted}
        if got == wanted:
            break
        if time.time() > deadline:
            fail(f"statuses {got} != {wanted}")
        time.sleep(0.3)
    print(f"statuses: {got}")
    return jobs


def check_token(dash, job_id):
    routes = ["/", f"/job/{job_id}", f"/job/{job_id}/report.html", "/static/dashboard.js", "/static/dashboard.css",
              "/api/jobs", f"/api/job/{job_id}", "/api/stats", "/no/such/page"]
    for route in routes:
        status, headers, body = dash.get(route)
        check(status == 401, f"GET {route} without the token: {status}")
        check("bearer" in headers.get("www-authenticate", "").lower(), f"401 of {route} has no WWW-Authenticate")
        status, _, _ = dash.get(route + ("&" if "?" in route else "?") + "token=wrong")
        check(status == 403, f"GET {route}?token=wrong: {status}")
        status, _, _ = dash.get(route, headers={"Authorization": "Bearer wrong"})
        check(status == 403, f"GET {route} with a wrong Bearer token: {status}")
    status, headers, _ = dash.get(f"/job/{job_id}?token={TOKEN}")
    check(status == 303 and headers.get("location") == f"/job/{job_id}", f"?token=: {status} {headers}")
    cookie = headers.get("set-cookie", "")
    check("HttpOnly" in cookie and "samesite=strict" in cookie.lower(), f"cookie {cookie}")
    name_value = cookie.split(";")[0]
    for route in routes[:-1]:
        status, _, _ = dash.get(route, headers={"Cookie": name_value})
        check(status == 200, f"GET {route} with the cookie: {status}")
        status, _, _ = dash.get(route, auth=True)
        check(status == 200, f"GET {route} with the Bearer token: {status}")
    status, _, _ = dash.get("/", headers={"Cookie": name_value.split("=")[0] + "=wrong"})
    check(status == 403, f"a wrong cookie: {status}")
    for path in ("/ws", f"/ws/job/{job_id}"):
        check(ws_status(dash.ws_url(path)) == 403, f"WebSocket {path} without the token was not refused with 403")
        check(ws_status(dash.ws_url(path, "wrong")) == 403, f"WebSocket {path} with a wrong token was not refused")
        check(ws_status(dash.ws_url(path, TOKEN)) is None, f"WebSocket {path} with the token was refused")
        check(ws_status(dash.ws_url(path), {"Cookie": name_value}) is None, f"WebSocket {path} with the cookie refused")
        check(ws_status(dash.ws_url(path), {"Authorization": f"Bearer {TOKEN}"}) is None,
              f"WebSocket {path} with the Bearer header refused")
    print(f"token: {len(routes)} routes 401 without it, 403 with a wrong one, 200 with it (URL -> 303 + "
          "HttpOnly SameSite=Strict cookie, cookie, Bearer); WebSockets 403 without or wrong, accepted with it")


def check_host_and_origin(dash):
    status, _, _ = dash.get("/", auth=True, headers={"Host": "evil.example:80"})
    check(status == 421, f"Host: evil.example answered {status}")
    status, _, _ = dash.get("/", auth=True, headers={"Host": f"localhost:{dash.port}"})
    check(status == 200, f"Host: localhost answered {status}")
    check(ws_status(dash.ws_url("/ws", TOKEN), {"Origin": "http://evil.example"}) == 403,
          "a WebSocket from another Origin was accepted")
    check(ws_status(dash.ws_url("/ws", TOKEN), {"Origin": f"http://127.0.0.1:{dash.port}"}) is None,
          "a same-origin WebSocket was refused")
    print("Host other than loopback: 421; WebSocket from another Origin: 403")


def check_traversal(dash, jobs, secret_log, outside):
    names = sorted(jobs)
    check("outside-job" not in names, f"a log outside the directory is listed: {names}")
    outside_id = hashlib.sha256(os.path.realpath(secret_log).encode()).hexdigest()[:16]
    check(outside_id not in {j["id"] for j in jobs.values()}, "the outside log's id is listed")
    complete = jobs["complete"]["id"]
    attempts = [
        f"/job/{outside_id}", f"/job/{outside_id}/report.html", f"/api/job/{outside_id}",
        "/job/..%2f..%2foutside%2fsecret.txt", "/job/%2e%2e/%2e%2e/outside/secret.txt",
        "/job/%2e%2e%2f%2e%2e%2foutside%2fsecret.txt/report.html", "/job/../../outside/secret.txt",
        f"/job/{complete}/../../../outside/secret.txt", f"/job/{complete}/%2e%2e/%2e%2e/outside/secret.txt",
        f"/job/{complete}/report.html/..%2f..%2f..%2foutside%2fsecret.txt",
        "/static/..%2fdashboard.py", "/static/%2e%2e%2fdashboard.py", "/static/../dashboard.py",
        "/static/%2e%2e/%2e%2e/outside/secret.txt", "/static/", "//etc/passwd", "/api/job/..%2f..",
    ]
    for path in attempts:
        status, _, body = dash.get(path, auth=True)
        check(status in (400, 404), f"GET {path}: {status}")
        check(SECRET.encode() not in body and b"def main" not in body and b"root:" not in body,
              f"GET {path} returned what it aimed at")
    # report.html next to a listed log: a symlink out of the directory, a FIFO.
    status, _, body = dash.get(f"/job/{complete}/report.html", auth=True)
    check(status == 404 and SECRET.encode() not in body, f"report.html -> outside: {status} {body[:100]!r}")
    started = time.monotonic()
    status, _, body = dash.get(f"/job/{jobs['interrupted']['id']}/report.html", auth=True)
    check(status == 404 and time.monotonic() - started < 10, f"report.html FIFO: {status} {body[:100]!r}")
    check(ws_status(dash.ws_url(f"/ws/job/{outside_id}", TOKEN)) is None, "")  # accepted, then closed: 4404
    message, code = asyncio.run(first_message(dash.ws_url(f"/ws/job/{outside_id}", TOKEN)))
    check(message == {"type": "gone"} and code == 4404, f"WebSocket of the outside job: {message} {code}")
    print(f"traversal: the symlinked log and directory are not listed; {len(attempts)} attempts "
          "(.., %2e%2e, %2f, outside ids) answer 404/400 with none of their target; report.html symlinked "
          "out: 404; report.html FIFO: 404 at once")


async def first_message(url):
    import websockets
    async with websockets.connect(url) as ws:
        message = json.loads(await ws.recv())
        try:
            await ws.recv()
        except websockets.exceptions.ConnectionClosed as e:
            return message, e.code
    return message, None


async def oversized_message(url):
    import websockets
    async with websockets.connect(url) as ws:
        await ws.recv()
        await ws.send("x" * 65536)
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 20)
        except websockets.exceptions.ConnectionClosed as e:
            return e.code


def check_bounds(dash, root, jobs, rss_before):
    add_huge_line_log(root)
    deadline = time.time() + 60
    while True:
        jobs = {j["name"]: j for j in dash.json("/api/jobs")["jobs"]}
        stats = dash.json("/api/stats")["jobs"]
        huge = stats.get(jobs.get("huge", {}).get("id"), {}).get("logs", {}).get("0")
        if huge and huge["offset"] == huge["size"]:
            break
        if time.time() > deadline:
            fail(f"the log with a 64 MB line was not read to its end: {huge}")
        time.sleep(0.2)
    check(huge["long_lines"] == 1, f"huge line: {huge}")
    view = dash.json(f"/api/job/{jobs['huge']['id']}")
    check(view["samples"] == 5, f"the samples after the 64 MB line were not all read: {view['samples']}")
    rss_after = dash.rss()
    growth = (rss_after - rss_before) / 2**20
    check(growth < 32, f"the server's RSS grew by {growth:.0f} MB reading a 64 MB line")
    big = stats[jobs["big"]["id"]]["logs"]["0"]
    check(big["capped"] and big["bytes_read"] <= 80 << 20 and big["size"] == 512 << 20, f"big log: {big}")
    check(jobs["big"]["capped"], "the list does not say the big log was cut")
    code = asyncio.run(oversized_message(dash.ws_url("/ws", TOKEN)))
    check(code == 1009, f"a 64 KB WebSocket message: close code {code}, expected 1009 (too big)")
    refused = {}
    for size in (100_000, 10_000_000):
        try:
            refused[size] = dash.get("/", auth=True, headers={"X-Big": "y" * size})[0]
        except (ConnectionError, OSError):
            refused[size] = "connection closed"
    check(refused[100_000] == 431, f"a 100 KB header: {refused[100_000]}")
    check(refused[10_000_000] in (400, 431, "connection closed"), f"a 10 MB header: {refused[10_000_000]}")
    check(dash.get("/api/stats", auth=True)[0] == 200, "the server does not answer after the oversized requests")
    print(f"bounds: 64 MB line skipped (RSS {rss_before / 2**20:.0f} -> {rss_after / 2**20:.0f} MB, later samples "
          f"read); 512 MB log read to {big['bytes_read'] >> 20} MB (--max-log-mb 80); 64 KB WebSocket message: "
          f"closed 1009; 100 KB header: {refused[100_000]}; 10 MB header: {refused[10_000_000]}")


def check_listen_defaults(root):
    # No --host: loopback only. (No token either: allowed on loopback, with a warning.)
    dash = Dashboard([root])
    try:
        addresses = listening_address(dash.port)
        check(addresses == ["127.0.0.1"], f"without --host it listens on {addresses}")
    finally:
        dash.stop()
    check("no token" in dash.stderr, "no warning about running without a token")
    import subprocess
    run = subprocess.run([PYTHON, DASHBOARD, "--host", "0.0.0.0", "--port", "0", root], capture_output=True,
                         text=True, timeout=60, env=dict(os.environ, SHMJOB_DASHBOARD_TOKEN=""))
    check(run.returncode == 2 and "token" in run.stderr, f"--host 0.0.0.0 without a token: {run.returncode} "
          f"{run.stderr[-300:]}")
    print(f"listen: 127.0.0.1 only by default ({addresses}); --host 0.0.0.0 without a token refused (exit 2)")


def main():
    skip_without_server()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="shmjob-dashboard-security-") as tmp:
        root, outside, logs, secret_log = make_tree(tmp)
        check_listen_defaults(root)

        # The token from the environment: refused without, accepted with.
        env_dash = Dashboard([root], env={"SHMJOB_DASHBOARD_TOKEN": "from-env"})
        try:
            check(env_dash.get("/")[0] == 401, "$SHMJOB_DASHBOARD_TOKEN: not required")
            check(env_dash.get("/", headers={"Authorization": "Bearer from-env"})[0] == 200,
                  "$SHMJOB_DASHBOARD_TOKEN: not accepted")
        finally:
            env_dash.stop()
        print("token from $SHMJOB_DASHBOARD_TOKEN: 401 without, 200 with")

        dash = Dashboard([root], token=TOKEN, args=["--max-log-mb", "80"])
        try:
            jobs = check_statuses(dash)
            rss_before = dash.rss()
            check_token(dash, jobs["failed"]["id"])
            check_host_and_origin(dash)
            check_traversal(dash, jobs, secret_log, outside)
            check_bounds(dash, root, jobs, rss_before)
        finally:
            dash.stop()
    print(f"OK ({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
