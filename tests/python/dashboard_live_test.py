#!/usr/bin/env python3
"""The live dashboard in a real browser (headless Chromium through Selenium) while a real job runs.

- the token in a browser: without it the page is refused (401), with a wrong one too (403);
  with it the dashboard sets a cookie and takes the token out of the address bar;
- the list shows a job started after the page was opened, within seconds, without a reload;
- the job's page: "N of 300" rises without a reload (a marker set on `window` survives) and
  ends at "300 of 300" and "complete"; the job runs on two pretend nodes, so both logs (node 0's
  and `.node1`) are read and the page shows both nodes' shares;
- reconnection: the server is stopped mid-job and started again on the same port; the page
  shows it lost the connection, reconnects by itself (a second WebSocket connection, same
  window) and goes on counting;
- the final page agrees with the log's job_end (verdict stage, per-node matrices), has its
  charts and events, and no script or console error; its "full report" link opens the report;
- the list shows interrupted, failed and stalled jobs as such (logs derived from the real one).

usage: dashboard_live_test.py SHMJOB
"""
import json
import os
import shutil
import sys
import tempfile
import time

from helpers.dashboard_common import (Dashboard, browser, console_problems, finish_job, have_browser, job_config,
                                      skip_without_server, start_job, wait_for)
from helpers.report_common import ANALYSIS, fail

sys.path.insert(0, ANALYSIS)
import shmjob_metrics as sm  # noqa: E402

TOKEN = "live-test-token"
MARKER = "return window.__dashboardTestMarker"


def text(driver, css):
    elements = driver.find_elements("css selector", css)
    return elements[0].text if elements else ""


def count_of(value):
    """"123 of 300" -> 123; None when the page shows no count yet."""
    parts = value.replace(" ", "").split("of")
    return int(parts[0]) if len(parts) == 2 and parts[0].isdigit() else None


def check_token_in_browser(driver, dash):
    driver.get(dash.base + "/")
    if "needs its token" not in driver.page_source:
        fail("the list opened without the token")
    driver.get(dash.base + "/?token=wrong")
    if "Wrong token" not in driver.page_source:
        fail("the list opened with a wrong token")
    driver.get(dash.url)  # the URL the dashboard printed: ?token=...
    wait_for("the list page", lambda: driver.execute_script("return window.shmjobDashboard && "
                                                            "window.shmjobDashboard.state") == "open", 30)
    if "token" in driver.current_url:
        fail(f"the token stays in the address bar: {driver.current_url}")
    driver.get_log("browser")  # the refused pages' 401/403 are logged: that was the point
    print("token: refused without and with a wrong one (401/403 pages), accepted from the printed URL")


def watch_job(driver, dash):
    """On the job's page until it says complete: the counts it showed, restarting the server
    once mid-way. Returns (counts, restart facts)."""
    counts, restart = [], {}
    deadline = time.time() + 180
    while time.time() < deadline:
        if driver.execute_script(MARKER) != "job":
            fail(f"the job page was reloaded (the window's marker is gone) after counts {counts}")
        count = count_of(text(driver, "#progress"))
        if count is not None and (not counts or counts[-1] != count):
            counts.append(count)
        if not restart and count is not None and 40 <= count <= 200:
            restart["at"] = count
            dash.stop()
            wait_for("the page to notice the server is gone",
                     lambda: driver.execute_script("return window.shmjobDashboard.state") != "open", 30, 0.05)
            restart["state"] = driver.find_element("id", "conn").text
            restart["disconnects"] = driver.execute_script("return window.shmjobDashboard.disconnects")
            dash.start()
            wait_for("the page to reconnect",
                     lambda: driver.execute_script("return window.shmjobDashboard.connects") >= 2
                     and driver.execute_script("return window.shmjobDashboard.state") == "open", 60)
            restart["count_after"] = count_of(text(driver, "#progress"))
        if count == 300 and text(driver, "#status") == "complete":
            return counts, restart
        time.sleep(0.1)
    fail(f"the page did not reach '300 of 300' and 'complete': counts {counts}, status {text(driver, '#status')}")


def derived_logs(log, directory):
    """Logs of jobs that did not complete, made from a real log: job_end rewritten
    (interrupted, failed), or cut before it and left untouched for ten minutes (stalled)."""
    with open(log) as f:
        lines = f.readlines()
    end_at = next(i for i, line in enumerate(lines) if '"job_end"' in line)
    made = {}
    for status in ("interrupted", "failed"):
        end = json.loads(lines[end_at])
        end["status"] = status
        path = os.path.join(directory, status, f"{status}.metrics.jsonl")
        os.makedirs(os.path.dirname(path))
        with open(path, "w") as f:
            f.writelines(lines[:end_at] + [json.dumps(end) + "\n"])
        made[status] = path
    path = os.path.join(directory, "stalled", "stalled.metrics.jsonl")
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as f:
        f.writelines(lines[:end_at // 2])
    old = time.time() - 600
    os.utime(path, (old, old))
    made["stalled"] = path
    return made


def main():
    skip_without_server()
    missing = have_browser()
    if missing:
        print(f"SKIP: {missing}")
        sys.exit(77)
    shmjob = sys.argv[1]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="shmjob-dashboard-live-") as tmp:
        jobs = os.path.join(tmp, "jobs")
        os.makedirs(jobs)
        dash = Dashboard([jobs], token=TOKEN)
        driver = browser()
        job = None
        try:
            check_token_in_browser(driver, dash)
            driver.execute_script("window.__dashboardTestMarker = 'list';")

            # --- a job started after the list was opened appears on it
            config = job_config(tmp, "live", count=300, delay_ms=30)
            config["output_dir"] = os.path.join(jobs, "live")
            config["testing"]["pretend_nodes"] = 2
            job, log = start_job(shmjob, tmp, config, ranks=6)
            job_started = time.monotonic()
            row = wait_for("the new job on the list", lambda: driver.find_elements("css selector", "tr.job"), 60)
            appeared = time.monotonic() - job_started
            first_status = row[0].get_attribute("data-status")
            if driver.execute_script(MARKER) != "list":
                fail("the list page was reloaded to show the new job")
            print(f"list: the new job appeared {appeared:.1f} s after mpirun started, status {first_status}, "
                  "no reload")

            # --- its page while it runs
            row[0].find_element("css selector", "a.job-link").click()
            wait_for("the job page", lambda: driver.execute_script(
                "return document.body.dataset.page === 'job' && window.shmjobDashboard.messages > 0"), 30)
            driver.execute_script("window.__dashboardTestMarker = 'job';")
            counts, restart = watch_job(driver, dash)
            finish_job(job, "live")
            job = None
            if driver.execute_script(MARKER) != "job":
                fail("the job page was reloaded (the window's marker is gone)")
            rising = [c for c in counts if 0 < c < 300]
            if len(set(rising)) < 3 or counts != sorted(counts) or counts[-1] != 300:
                fail(f"the count did not rise to 300 step by step: {counts}")
            if not restart:
                fail(f"the server was not restarted: the count never showed between 40 and 200 ({counts})")
            if restart["disconnects"] < 1 or restart["state"] == "live":
                fail(f"while the server was down the page showed {restart['state']!r}")
            after = [c for c in counts if c > restart["at"]]
            print(f"job page: counts {counts[0]} … {counts[-1]} ({len(counts)} distinct values, "
                  f"{len(rising)} between 0 and 300), no reload")
            print(f"restart: server stopped at {restart['at']} of 300; the page showed {restart['state']!r}, "
                  f"reconnected ({driver.execute_script('return window.shmjobDashboard.connects')} connections) "
                  f"and counted on: {after[:3]} … {after[-1:]}")

            # --- the final page against the log
            run = sm.load(log)
            if not run.finished or run.end["status"] != "complete" or run.end["matrices"] != 300:
                fail(f"the job's log does not end complete with 300 matrices: {run.status}")
            stage = driver.find_element("id", "verdict").get_attribute("data-stage")
            if stage != run.end["bottleneck"]["stage"]:
                fail(f"verdict {stage} != job_end's {run.end['bottleneck']['stage']}")
            node_cells = [r.find_elements("css selector", "td") for r in
                          driver.find_elements("css selector", "#nodes table tr")[1:]]
            shown = {int(c[0].text): int(c[2].text.replace(" ", "")) for c in node_cells}
            expected = {n["node"]: n["matrices"] for n in run.end["nodes"]}
            if shown != expected or len(shown) != 2:
                fail(f"per-node matrices on the page {shown} != job_end's {expected}")
            points = int(driver.find_element("css selector", "#throughput path.line").get_attribute("data-points"))
            if points < 10:
                fail(f"the throughput chart has {points} points")
            stages = [r.get_attribute("data-stage") for r in driver.find_elements("css selector", ".stage-row")]
            if stages != ["producer", "compressor", "writer"]:
                fail(f"stage bars {stages}")
            if not driver.find_elements("css selector", "#events tr.warning"):
                fail("the plan warning (ranks sharing cores) is not among the events")
            headline = {f.get_attribute("data-key"): f.find_element("css selector", ".value").text
                        for f in driver.find_elements("css selector", "#headline .figure")}
            if headline.get("matrices") != "300 of 300" or headline.get("status") != "complete":
                fail(f"headline {headline}")
            problems = [p for p in console_problems(driver) if "WebSocket connection" not in p]
            if problems:
                fail("console problems on the job page:\n" + "\n".join(problems))
            print(f"final page: verdict {stage}, nodes {shown}, {points} throughput points, headline as job_end, "
                  "no console error (other than the WebSocket refused while the server was down)")
            if os.environ.get("SHMJOB_KEEP_SCREENSHOT"):
                driver.save_screenshot(os.environ["SHMJOB_KEEP_SCREENSHOT"])

            driver.find_element("id", "report").click()
            wait_for("the report", lambda: "shmjob report: live" in driver.title, 120)
            if "Throughput over time" not in driver.page_source:
                fail("the report link did not open the report")
            print("report link: opens report.py's page of the job")

            # --- statuses on the list
            made = derived_logs(log, jobs)
            driver.get(dash.base + "/")

            def statuses():
                rows = driver.find_elements("css selector", "tr.job")
                return {r.find_element("css selector", ".path").text.split("/")[1]: r.get_attribute("data-status")
                        for r in rows}
            wanted = {"live": "complete", "interrupted": "interrupted", "failed": "failed", "stalled": "stalled"}
            wait_for(f"statuses {wanted}", lambda: statuses() == wanted, 30)
            print(f"list statuses: {statuses()}")
            problems = console_problems(driver)
            if problems:
                fail("console problems on the list page:\n" + "\n".join(problems))
            del made
        finally:
            if job is not None and job.poll() is None:
                job.kill()
                job.wait()
            if job is not None:
                shutil.rmtree(getattr(job, "session_base", ""), ignore_errors=True)
            driver.quit()
            dash.stop()
    print(f"OK ({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
