#!/usr/bin/env python3
"""A real run's report: analysis/report.py on the metrics log of an mpirun job.

- the log matches analysis/metrics.schema.json;
- every headline figure of the page equals the job_end record, and the verdict is the record's;
- headless Chromium opens the page without console errors (checked to catch an injected error)
  and the screenshot is not blank (grey-level spread and non-background pixels);
- the page is self-contained: no http(s) URL, no external src/href;
- --follow on a log that grows as a job's does: the page reloads itself and says "Running" until
  the job_end record arrives, then the follower exits and the final page has no reload.

usage: report_test.py SHMJOB
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from helpers.report_common import (ANALYSIS, PYTHON, chromium, chromium_binary, fail, headline_values,
                                   make_report, page_problems, run_job, screenshot_spread)

sys.path.insert(0, ANALYSIS)
import shmjob_metrics as sm  # noqa: E402


def check_headline(page, end):
    values = headline_values(page)
    expected = {f.key: f.value for f in sm.headline(sm.RunLog(path="", end=end))}
    if set(values) != set(expected) or not values:
        fail(f"headline keys {sorted(values)} != {sorted(expected)}")
    for key, value in values.items():
        if value != end[key]:
            fail(f"headline {key} shows {value!r}, job_end has {end[key]!r}")
    # The printed text too: MB/s and ratio as the end record's numbers, rounded.
    for key, text in (("mb_per_s_in", f"{end['mb_per_s_in']:.1f} MB/s"), ("ratio", f"{end['ratio']:.2f}")):
        if not re.search(rf'data-key="{key}"[^>]*><div class="value">{re.escape(text)}</div>', page):
            fail(f"headline {key} does not print {text}")
    stage = re.search(r'id="verdict" data-stage="(\w+)"', page)
    if not stage or stage.group(1) != end["bottleneck"]["stage"]:
        fail(f"verdict {stage and stage.group(1)} != job_end's {end['bottleneck']['stage']}")
    if end["bottleneck"]["sentence"].replace("'", "&#x27;") not in page:
        fail("the verdict sentence of job_end is not on the page")


def check_self_contained(page):
    external = re.findall(r'(?:src|href)\s*=\s*"(?!#|data:)[^"]+"', page) + re.findall(r"https?://[^\s\"'<]+", page)
    # matplotlib's SVG carries its own xmlns/metadata URLs (not fetched); anything else is a link.
    external = [e for e in external if "www.w3.org" not in e and "matplotlib.org" not in e
                and "purl.org" not in e and "creativecommons.org" not in e]
    if external:
        fail(f"the page refers to outside resources: {external[:5]}")


def check_follow(log, directory):
    """report.py --follow on a log written line by line, as a running job writes it."""
    with open(log) as f:
        lines = f.readlines()
    end_at = next(i for i, line in enumerate(lines) if '"job_end"' in line)
    growing = os.path.join(directory, "growing.jsonl")
    page_path = os.path.join(directory, "follow.html")
    with open(growing, "w") as f:
        f.writelines(lines[:3])
    follower = subprocess.Popen([PYTHON, os.path.join(ANALYSIS, "report.py"), "--follow", growing,
                                 "-o", page_path, "--every", "0.5", "--timeout", "120"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while not os.path.exists(page_path) and time.time() < deadline:
            time.sleep(0.2)
        with open(page_path) as f:
            page = f.read()
        if 'http-equiv="refresh"' not in page or "Running:" not in page:
            fail("--follow page of a running job does not reload itself or does not say Running")
        with open(growing, "a") as f:
            f.writelines(lines[3:end_at])
        time.sleep(1.5)
        if follower.poll() is not None:
            fail("--follow stopped before the job_end record")
        with open(growing, "a") as f:
            f.writelines(lines[end_at:])
        out, err = follower.communicate(timeout=60)
    finally:
        if follower.poll() is None:
            follower.kill()
    if follower.returncode != 0:
        fail(f"--follow exited {follower.returncode}: {err}")
    with open(page_path) as f:
        page = f.read()
    if 'http-equiv="refresh"' in page or "Running:" in page or 'id="headline"' not in page:
        fail("the final --follow page still reloads or has no headline")
    print("--follow: reloads while running, final page once job_end arrived")


def main():
    if not chromium_binary():
        print("SKIP: chromium is not installed (scripts/setup.sh installs it)")
        sys.exit(77)
    shmjob = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="shmjob-report-") as tmp:
        log = run_job(shmjob, 6, {
            "job": "report", "matrices": {"count": 60, "rows": 256, "cols": 256, "kind": "smooth"},
            "stages": {"producers": 2, "compressors": 2, "writers": 1},
            # The writer is paced (60 x 3 ms at least): several samples on any machine.
            "metrics": {"interval_s": 0.05}, "testing": {"writer_delay_ms": 3}}, tmp)
        problems = sm.schema_errors(log)
        if problems:
            fail("log does not match the schema:\n" + "\n".join(problems[:10]))
        run = sm.load(log)
        if not run.finished or len(run.samples) < 2:
            fail(f"expected a finished run with samples, got {len(run.samples)} samples")

        page_path = os.path.join(tmp, "report.html")
        started = time.monotonic()
        page = make_report(log, page_path)
        print(f"report.py: {os.path.getsize(page_path)} bytes in {time.monotonic() - started:.1f} s")
        check_headline(page, run.end)
        check_self_contained(page)
        for needle in ("Throughput over time", "Where the time went", "Utilisation per rank", "Queues and slots",
                       "Latency", "Compression ratio", "Plan and ranks", "Errors and events"):
            if needle not in page:
                fail(f"section {needle!r} missing")
        if page.count("<svg") < 6:
            fail(f"expected at least 6 inline SVG figures, found {page.count('<svg')}")

        problems, dom = page_problems(page_path)
        if problems:
            fail("Chromium reports problems on the page:\n" + "\n".join(problems[:10]))
        if 'id="headline"' not in dom:
            fail("Chromium's DOM has no headline")
        # The probe must catch a script error, or the check above proves nothing.
        broken = os.path.join(tmp, "broken.html")
        with open(broken, "w") as f:
            f.write(page.replace("</main>", "<script>no_such_function();</script></main>"))
        problems, _ = page_problems(broken)
        if not any("no_such_function" in p for p in problems):
            fail(f"the console-error check missed an injected error: {problems}")

        png = os.path.join(tmp, "report.png")
        chromium(page_path, f"--screenshot={png}", "--window-size=1100,2400")
        spread, inked = screenshot_spread(png)
        print(f"screenshot: grey std {spread:.1f}, {inked:.1%} non-background pixels")
        if spread < 20 or inked < 0.05:
            fail(f"the screenshot looks blank (grey std {spread:.1f}, {inked:.1%} drawn)")
        blank = os.path.join(tmp, "blank.html")
        with open(blank, "w") as f:
            f.write("<!DOCTYPE html><html><body></body></html>")
        chromium(blank, f"--screenshot={png}", "--window-size=1100,2400")
        if screenshot_spread(png)[1] > 0.01:
            fail("the blank-page check does not recognise a blank page")

        check_follow(log, tmp)
        if os.environ.get("SHMJOB_KEEP_REPORT"):
            shutil.copy(page_path, os.environ["SHMJOB_KEEP_REPORT"])
    print("OK")


if __name__ == "__main__":
    main()
