"""Helpers for the dashboard tests: start analysis/dashboard.py on a free port, talk HTTP and
WebSocket to it, drive headless Chromium through Selenium (Debian's python3-selenium and
chromium-driver), start real jobs, read a process's RSS."""
import asyncio
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

from helpers.report_common import ANALYSIS, PYTHON, fail, write_config

DASHBOARD = os.path.join(ANALYSIS, "dashboard.py")


class Dashboard:
    """analysis/dashboard.py in a child process. port=0: any free port (the dashboard prints
    the URL it listens on); give the port of a stopped one to restart it there."""

    def __init__(self, dirs, token=None, port=0, args=(), env=None):
        self.dirs, self.token, self.args, self.env = list(dirs), token, list(args), env
        self.port = port
        self.proc = None
        self.start()

    def start(self):
        cmd = [PYTHON, DASHBOARD, "--port", str(self.port), *self.args]
        if self.token:
            cmd += ["--token", self.token]
        cmd += self.dirs
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", **(self.env or {}))
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        line = self.proc.stdout.readline()
        match = re.search(r"(http://[^ ]+)", line)
        if not match:
            self.stop()
            fail(f"dashboard did not print its URL: {line!r} {self.stderr}")
        self.url = match.group(1)
        parts = urllib.parse.urlsplit(self.url)
        self.host, self.port = parts.hostname, parts.port
        self.base = f"http://{parts.hostname}:{parts.port}"
        # The socket listens before the first scan: wait until it answers.
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                status, _, _ = self.get("/api/stats", auth=True)
                if status in (200, 401, 403):  # answering (a token from the environment: 401)
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        fail(f"dashboard did not answer within 30 s: {self.stderr[-2000:]}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.proc.stdout.close()
            self.stderr = self.proc.stderr.read()
            self.proc.stderr.close()

    def get(self, path, auth=False, headers=None, method="GET"):
        """(status, headers dict, body bytes); no redirect is followed."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        h = dict(headers or {})
        if auth and self.token:
            h["Authorization"] = f"Bearer {self.token}"
        try:
            conn.request(method, path, headers=h)
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def json(self, path):
        status, _, body = self.get(path, auth=True)
        if status != 200:
            fail(f"GET {path}: {status} {body[:200]!r}")
        return json.loads(body)

    def rss(self):
        return rss_of(self.proc.pid)

    def cpu_seconds(self):
        return cpu_seconds_of(self.proc.pid)

    def ws_url(self, path, token=None):
        query = f"?token={urllib.parse.quote(token)}" if token else ""
        return f"ws://{self.host}:{self.port}{path}{query}"


def cpu_seconds_of(pid):
    """User + system CPU seconds a process has used (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_of(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


async def ws_handshake(url, headers=None):
    """Opens and closes a WebSocket: None if accepted, else the HTTP status refusing it."""
    import websockets
    try:
        async with websockets.connect(url, extra_headers=headers or {}, open_timeout=20):
            return None
    except websockets.exceptions.InvalidStatusCode as e:
        return e.status_code


def ws_status(url, headers=None):
    return asyncio.run(ws_handshake(url, headers))


# --- jobs ------------------------------------------------------------------------------------

def job_config(directory, name, count=300, delay_ms=30, interval_s=0.2, rows=64, cols=64):
    """A small synthetic job that takes about count x delay_ms to run (a paced writer)."""
    return {"job": name, "output_dir": os.path.join(directory, name),
            "matrices": {"count": count, "rows": rows, "cols": cols, "dtype": "float32", "kind": "smooth"},
            "stages": {"producers": 1, "compressors": 1, "writers": 1},
            "metrics": {"interval_s": interval_s}, "testing": {"writer_delay_ms": delay_ms}}


def start_job(shmjob, directory, config, ranks=3):
    """mpirun in the background; returns (process, metrics log path).

    Each job gets a session-directory base of its own (orte_tmpdir_base): mpiruns started at the
    same moment race to create /tmp/ompi.<host>.<uid> and one of them fails with "A call to mkdir
    was unable to create the desired directory ... File exists" (Open MPI 4.1, open-mpi/ompi#8510;
    seen here when the load test's 5 jobs start together)."""
    path = write_config(directory, config)
    session_base = tempfile.mkdtemp(prefix="ompi-")
    env = dict(os.environ, OMPI_MCA_orte_tmpdir_base=session_base)
    proc = subprocess.Popen(["mpirun", "-n", str(ranks), shmjob, "--quiet", path],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    proc.session_base = session_base
    return proc, os.path.join(config["output_dir"], config["job"] + ".metrics.jsonl")


def job_state(proc, log):
    """For a failure message: the job's exit code (None: running), its log's size and, for a job
    that failed, the end of what it printed."""
    size = os.path.getsize(log) if os.path.exists(log) else None
    state = "running" if proc.poll() is None else f"exited {proc.returncode}"
    said = ""
    if proc.poll() not in (None, 0):
        out, err = proc.communicate()
        said = f" ({(out + err).strip()[-1500:]})"
    return f"{os.path.basename(log)}: mpirun {state}, log {size} bytes{said}"


def finish_job(proc, name, timeout=300):
    out, err = proc.communicate(timeout=timeout)
    shutil.rmtree(getattr(proc, "session_base", ""), ignore_errors=True)
    if proc.returncode != 0:
        fail(f"job {name} exited {proc.returncode}: {err[-2000:]}")


# --- the browser ------------------------------------------------------------------------------

def skip_without_server():
    """Exit 77 (ctest: skipped) without Debian's python3-fastapi, python3-uvicorn, python3-websockets."""
    missing = []
    for module in ("fastapi", "uvicorn", "websockets"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        print(f"SKIP: {', '.join(missing)} not installed (scripts/setup.sh installs python3-fastapi, "
              "python3-uvicorn, python3-websockets)")
        sys.exit(77)


def have_browser():
    import importlib.util
    if importlib.util.find_spec("selenium") is None:
        return "python3-selenium is not installed (scripts/setup.sh installs it)"
    if not shutil.which("chromedriver"):
        return "chromedriver is not installed (Debian's chromium-driver; scripts/setup.sh installs it)"
    return None


def browser(width=1200, height=2200):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--hide-scrollbars", f"--window-size={width},{height}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)


def console_problems(driver):
    """Severe console lines and the page's own script-error count (data-js-errors)."""
    problems = [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    errors = driver.execute_script("return document.documentElement.dataset.jsErrors")
    if errors != "0":
        problems.append(f"{errors} script error(s): "
                        + str(driver.execute_script("return document.documentElement.dataset.jsLastError")))
    return problems


def wait_for(what, check, timeout, every=0.2):
    """Calls check() until it returns something true; fails after `timeout` s."""
    deadline = time.time() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.time() > deadline:
            fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


def python_path():
    return sys.executable


# --- logs made up for tests that need no real job ---------------------------------------------

def synthetic_log(path, name="synthetic", samples=5, end_status="complete", expected=100, extra_lines=()):
    """Writes a small metrics log shaped like shmjob's (job_start, samples, an event, job_end
    unless end_status is None): enough for the dashboard, made without running a job."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    epoch = time.time() - samples
    roles = ["producer", "compressor", "writer"]
    use = {r: {"ranks": 1, "busy": 0.5, "wait_input": 0.1, "wait_slot": 0.2, "wait_disk": 0.0, "active": 0.5}
           for r in roles}
    verdict = {"stage": "compressor", "sentence": "Compression limited this run.", "suggestion": "more compressors",
               "evidence": {}}
    lines = [{"type": "job_start", "schema_version": 1, "time": "2026-01-01T00:00:00Z", "epoch_s": epoch, "job": name,
              "world_size": 3, "hosts": ["h"], "launch": {"launcher": "mpirun"},
              "topology": {"summary": "1 NUMA domain", "cores": 2},
              "config": {"job": name, "output_dir": os.path.dirname(path), "metrics": {"interval_s": 1.0},
                         "matrices": {"count": expected, "rows": 8, "cols": 8, "dtype": "float32", "kind": "smooth"},
                         "stages": {}, "compression": {"level": 3}},
              "plan": {"nodes": 1,
                       "ranks": [{"rank": i, "host": "h", "node": 0, "role": r} for i, r in enumerate(roles)],
                       "node0": {"layout": {"producers": 1, "compressors": 1, "writers": 1, "idle": 0}}},
              "versions": {}}]
    for i in range(1, samples + 1):
        written = expected * i // (samples + 1)
        lines.append({"type": "sample", "t": float(i), "node": 0, "written": written, "expected": expected,
                      "ranks": [{"rank": k, "role": r, "matrices": written, "bytes_in": written * 256,
                                 "bytes_out": written * 200, "busy_s": 0.5 * i, "wait_input_s": 0.1 * i,
                                 "wait_slot_s": 0.2 * i, "wait_disk_s": 0.0, "cpu_s": 0.5 * i}
                                for k, r in enumerate(roles)],
                      "queues": {"ready": [1], "writer_inbox": [0]},
                      "slots": {"raw_in_use": 1, "raw_total": 4, "compressed_in_use": 1, "compressed_total": 4},
                      "latency": {"n": 1, "p50_s": 0.01, "p90_s": 0.02, "p99_s": 0.03}, "stages": use,
                      "bottleneck": verdict})
    lines.append({"type": "event", "t": 0.5, "level": "warning", "kind": "plan", "rank": None, "node": 0,
                  "message": "a plan note"})
    if end_status:
        lines.append({"type": "job_end", "status": end_status, "matrices": expected, "expected": expected,
                      "seconds": float(samples + 1), "wall_seconds": float(samples + 1), "raw_bytes": expected * 256,
                      "compressed_bytes": expected * 200, "mb_per_s_in": 1.0, "mb_per_s_out": 0.8,
                      "matrices_per_s": 10.0, "ratio": 1.28, "cpu_s_by_role": {}, "stages": use,
                      "bottleneck": verdict, "latency": {"n": 1, "p50_s": 0.01, "p90_s": 0.02, "p99_s": 0.03},
                      "compression_ratios": {"n": 0}, "ranks": [],
                      "nodes": [{"node": 0, "host": "h", "ranks": 3, "matrices": expected, "raw_bytes": 0,
                                 "shards": 1, "blocks": 0}]})
    with open(path, "w") as f:
        for record in lines:
            f.write(json.dumps(record) + "\n")
        for line in extra_lines:
            f.write(line)
    return path
