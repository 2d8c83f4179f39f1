#!/usr/bin/env python3
"""A bounded load test of the dashboard on loopback: 50 WebSocket clients and 5 running jobs.

Two rounds, each: 5 real jobs (mpirun, 150 matrices each, paced writers) start at once under
the dashboard's directory; as soon as each job is listed, 10 WebSocket clients open its page
(50 in all) and stay until they have seen the job's final state. Checked:

- every client sees the final state: status complete, written == expected == 150;
- one reader per log, shared: the server read each log exactly once, only what was appended
  (bytes read == the file's size), while 10 clients watched it (viewers == 10);
- the server's memory stays flat: after a warm-up (500 short WebSockets: the RSS of a fresh
  server rises by some MB over its first few hundred connections, then levels off), RSS is
  sampled through both rounds; the second round (5 more jobs, 50 new clients, ~600 messages)
  may not add more than 3 MB to what the first left (a server keeping each message it sends
  adds ~5 MB a round), and the peak stays within 64 MB of the baseline;
- the clients are gone afterwards (the server counts 0 WebSockets).

Prints the figures (clients, jobs, RSS before/peak/after each round, time from each job's job_end
record to the last of its clients having it, the server's CPU seconds). No timing is asserted
beyond generous timeouts.

usage: dashboard_load_test.py SHMJOB
"""
import asyncio
import json
import os
import sys
import tempfile
import threading
import time

from helpers.dashboard_common import Dashboard, finish_job, job_config, job_state, skip_without_server, start_job
from helpers.report_common import fail

TOKEN = "load-test-token"
JOBS = 5
CLIENTS_PER_JOB = 10
MATRICES = 150


class RssSampler(threading.Thread):
    def __init__(self, dash):
        super().__init__(daemon=True)
        self.dash, self.samples, self.stop = dash, [], threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.samples.append(self.dash.rss())
            time.sleep(0.25)


async def client(url, result):
    """One browser's worth: reads the job's messages until the final state."""
    import websockets
    async with websockets.connect(url, max_size=4 << 20, open_timeout=60) as ws:
        result["connected"] = time.monotonic()
        while True:  # no timeout here: a job slowed down by a loaded machine sends nothing for a while
            message = json.loads(await ws.recv())
            result["messages"] = result.get("messages", 0) + 1
            s = message.get("summary") or {}
            result["last"] = (s.get("status"), s.get("written"), s.get("expected"))
            if result["last"] == ("complete", MATRICES, MATRICES):
                result["final"] = time.time()
                return


async def round_of_clients(dash, ids, results):
    tasks = []
    for jid in ids:
        for _ in range(CLIENTS_PER_JOB):
            result = {"job": jid}
            results.append(result)
            tasks.append(asyncio.create_task(client(dash.ws_url(f"/ws/job/{jid}", TOKEN), result)))
    # While they are connected: one reader per log, every client counted as a viewer of it.
    await asyncio.sleep(1.0)
    stats = await asyncio.to_thread(dash.json, "/api/stats")
    done = await asyncio.gather(*tasks, return_exceptions=True)
    for result, outcome in zip(results, done):
        if isinstance(outcome, BaseException):
            result["error"] = repr(outcome)
    return stats


async def warm_up(dash, connections=500, at_once=50):
    import websockets

    async def one():
        async with websockets.connect(dash.ws_url("/ws", TOKEN)) as ws:
            await ws.recv()
    for _ in range(connections // at_once):
        await asyncio.gather(*[one() for _ in range(at_once)])


def one_round(shmjob, dash, tmp, jobs_dir, number):
    started = time.monotonic()
    procs, logs = [], []
    for i in range(JOBS):
        config = job_config(tmp, f"r{number}j{i}", count=MATRICES, delay_ms=40, interval_s=0.1)
        config["output_dir"] = os.path.join(jobs_dir, config["job"])
        proc, log = start_job(shmjob, tmp, config)
        procs.append((proc, config["job"]))
        logs.append(log)
    deadline = time.time() + 300
    ended = {}
    while True:  # the jobs on the list
        listed = {j["path"].split("/")[1]: j["id"] for j in dash.json("/api/jobs")["jobs"]}
        ids = [listed.get(f"r{number}j{i}") for i in range(JOBS)]
        if all(ids):
            break
        # Missing: a job not listed 10 s after it ended, or 300 s after the start.
        for k, (p, _) in enumerate(procs):
            if p.poll() is not None:
                ended.setdefault(k, time.time())
        late = [k for k, when in ended.items() if not ids[k] and time.time() - when > 10]
        if time.time() > deadline or late:
            fail(f"round {number}: not every job was listed: {sorted(listed)}; "
                 + "; ".join(job_state(p, log) for (p, _), log in zip(procs, logs)))
        time.sleep(0.2)
    listed_after = time.monotonic() - started
    results = []
    stats_holder = {}

    def run_clients():
        stats_holder["stats"] = asyncio.run(round_of_clients(dash, ids, results))

    clients = threading.Thread(target=run_clients)
    clients.start()
    for proc, name in procs:
        finish_job(proc, name)
    clients.join(timeout=60)  # the jobs have ended: their final state is in their logs
    if clients.is_alive() or any("final" not in r for r in results):
        print("jobs: " + "; ".join(job_state(p, log) for (p, _), log in zip(procs, logs)))
        print("server: " + json.dumps(dash.json("/api/stats"))[:3000])
        for log in logs:
            with open(log) as f:
                times = [(r.get("type"), r.get("t", r.get("wall_seconds"))) for r in map(json.loads, f)]
            print(f"{os.path.basename(log)}: last records {times[-3:]}")
    if clients.is_alive():
        fail(f"round {number}: clients still waiting for the final state: "
             f"{[r.get('last') for r in results if 'final' not in r][:5]}")
    missing = [r for r in results if "final" not in r]
    if len(results) != JOBS * CLIENTS_PER_JOB or missing:
        fail(f"round {number}: {len(missing)} of {len(results)} clients did not see the final state: "
             + "; ".join(f"{r['job']}: {r.get('last')} {r.get('error', '')}" for r in missing[:5]))
    # From a job's last record (its job_end: the log's mtime) to the last of its clients having it.
    lag = max(max(r["final"] for r in results if r["job"] == jid) - os.path.getmtime(log)
              for jid, log in zip(ids, logs))
    stats = stats_holder["stats"]
    for jid, log in zip(ids, logs):
        job = stats["jobs"][jid]
        if job["viewers"] != CLIENTS_PER_JOB or list(job["logs"]) != ["0"]:
            fail(f"round {number}: {job['path']}: {job['viewers']} viewers, logs {list(job['logs'])} "
                 f"(expected {CLIENTS_PER_JOB} viewers sharing one reader)")
    after = dash.json("/api/stats")
    for jid, log in zip(ids, logs):
        read = after["jobs"][jid]["logs"]["0"]
        size = os.path.getsize(log)
        if read["bytes_read"] != size or read["offset"] != size:
            fail(f"round {number}: {log}: read {read['bytes_read']} bytes of a {size}-byte log "
                 "(each appended byte must be read once)")
    messages = sum(r.get("messages", 0) for r in results)
    return {"clients": len(results), "messages": messages, "lag": lag, "listed_after": listed_after,
            "bytes_read": sum(after["jobs"][j]["logs"]["0"]["bytes_read"] for j in ids)}


def main():
    skip_without_server()
    shmjob = sys.argv[1]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="shmjob-dashboard-load-") as tmp:
        jobs_dir = os.path.join(tmp, "jobs")
        os.makedirs(jobs_dir)
        dash = Dashboard([jobs_dir], token=TOKEN)
        sampler = RssSampler(dash)
        try:
            # Warm up before the baseline: the server's RSS rises by some MB over its first few
            # hundred WebSockets (allocator and library caches), then stays level.
            dash.get("/", auth=True)
            dash.get("/static/dashboard.js", auth=True)
            warm = time.monotonic()
            asyncio.run(warm_up(dash))
            time.sleep(0.5)
            baseline = dash.rss()
            cpu_before = dash.cpu_seconds()
            print(f"warm-up: 500 WebSockets in {time.monotonic() - warm:.1f} s, RSS {baseline / 2**20:.1f} MB")
            sampler.start()
            figures = []
            for number in (1, 2):
                mark = len(sampler.samples)
                round_started = time.monotonic()
                figure = one_round(shmjob, dash, tmp, jobs_dir, number)
                figure["seconds"] = time.monotonic() - round_started
                time.sleep(1.0)
                figure["rss_after"] = dash.rss()
                figure["rss_peak"] = max(sampler.samples[mark:] + [figure["rss_after"]])
                figures.append(figure)
                print(f"round {number} ({figure['seconds']:.0f} s, every job listed after "
                      f"{figure['listed_after']:.1f} s): {JOBS} jobs x {MATRICES} matrices, {figure['clients']} "
                      f"WebSocket clients, {figure['messages']} messages received, every client saw the final "
                      f"state at most {figure['lag']:.1f} s after its job's job_end was written; RSS peak "
                      f"{figure['rss_peak'] / 2**20:.1f} MB, after {figure['rss_after'] / 2**20:.1f} MB; logs read "
                      f"once ({figure['bytes_read']} bytes)")
            sampler.stop.set()
            print(f"server CPU over both rounds: {dash.cpu_seconds() - cpu_before:.1f} s")
            clients = dash.json("/api/stats")["clients"]
            if clients != 0:
                fail(f"{clients} WebSocket(s) still counted after every client left")
            growth = (figures[1]["rss_after"] - figures[0]["rss_after"]) / 2**20
            peak = (max(f["rss_peak"] for f in figures) - baseline) / 2**20
            print(f"RSS: baseline {baseline / 2**20:.1f} MB, after round 1 {figures[0]['rss_after'] / 2**20:.1f} MB, "
                  f"after round 2 {figures[1]['rss_after'] / 2**20:.1f} MB (+{growth:.1f} MB), "
                  f"peak {peak:+.1f} MB over the baseline")
            if growth > 3:
                fail(f"the server's RSS grew by {growth:.1f} MB from round 1 to round 2 (same load): not flat")
            if peak > 64:
                fail(f"the server's RSS rose {peak:.1f} MB over its baseline under 50 clients and 5 jobs")
        finally:
            sampler.stop.set()
            dash.stop()
            problems = [line for line in dash.stderr.splitlines() if "no token" not in line]
            if problems:
                print("dashboard's stderr:\n" + "\n".join(problems[-30:]))
    print(f"OK ({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
