"""Helpers for the report tests: run a real job, run report.py, open a page in headless
Chromium (Debian's `chromium`) and read what it shows."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ANALYSIS = os.path.normpath(os.path.join(HERE, "..", "..", "..", "analysis"))  # HERE: tests/python/helpers/
PYTHON = "/usr/bin/python3"


def fail(message):
    print(f"FAIL: {message}")
    sys.exit(1)


def write_config(directory, config):
    path = os.path.join(directory, config["job"] + ".json")
    with open(path, "w") as f:
        json.dump(config, f)
    return path


def run_job(shmjob, ranks, config, directory, expect_code=0):
    """Runs the job with mpirun; returns its metrics log path."""
    config = dict(config, output_dir=os.path.join(directory, config["job"]))
    run = subprocess.run(["mpirun", "-n", str(ranks), shmjob, write_config(directory, config)],
                         capture_output=True, text=True, timeout=600)
    if run.returncode != expect_code:
        fail(f"{config['job']}: shmjob exited {run.returncode}, expected {expect_code}\n"
             f"stdout: {run.stdout}\nstderr: {run.stderr}")
    return os.path.join(config["output_dir"], config["job"] + ".metrics.jsonl")


def make_report(log, output, *extra):
    run = subprocess.run([PYTHON, os.path.join(ANALYSIS, "report.py"), log, "-o", output, *extra],
                         capture_output=True, text=True, timeout=300)
    if run.returncode != 0:
        fail(f"report.py {log} exited {run.returncode}: {run.stderr}")
    with open(output, encoding="utf-8") as f:
        return f.read()


def headline_values(page):
    """{key: value} of the headline figures (data-key / data-value attributes)."""
    import html
    return {m.group(1): json.loads(html.unescape(m.group(2)))
            for m in re.finditer(r'<div class="figure" data-key="([^"]+)" data-value="([^"]*)"', page)}


def chromium_binary():
    return shutil.which("chromium") or shutil.which("chromium-browser")


def chromium(page_path, *mode):
    """Runs headless Chromium on a local file; returns (stdout, stderr). `mode`: --dump-dom or
    --screenshot=... --window-size=..."""
    with tempfile.TemporaryDirectory(prefix="shmjob-chromium-") as profile:
        run = subprocess.run(
            [chromium_binary(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", "--hide-scrollbars", f"--user-data-dir={profile}",
             "--enable-logging=stderr", "--v=0", *mode, "file://" + os.path.abspath(page_path)],
            capture_output=True, text=True, timeout=180)
    if run.returncode != 0:
        fail(f"chromium exited {run.returncode}: {run.stderr[-2000:]}")
    return run.stdout, run.stderr


# What Chromium logs for script errors, console output and resources it could not load.
CONSOLE_PROBLEMS = re.compile(r"Uncaught|CONSOLE\(|Failed to load resource|net::ERR_|Refused to")


def page_problems(page_path):
    """Console errors of a page as headless Chromium sees them: the page's own error probe (a
    data-js-errors attribute its first script keeps) from the DOM dump, and the console lines
    of Chromium's log. Also checks the page's last script ran (data-rendered)."""
    dom, log = chromium(page_path, "--dump-dom")
    problems = []
    errors = re.search(r'data-js-errors="(\d+)"', dom)
    if not errors:
        problems.append("the page's error probe did not run (no data-js-errors in the DOM)")
    elif errors.group(1) != "0":
        last = re.search(r'data-js-last-error="([^"]*)"', dom)
        problems.append(f"{errors.group(1)} script error(s): {last.group(1) if last else '?'}")
    if 'data-rendered="1"' not in dom:
        problems.append("the page's last script did not run (no data-rendered)")
    problems += [line for line in log.splitlines() if CONSOLE_PROBLEMS.search(line)]
    return problems, dom


def screenshot_spread(png_path):
    """Standard deviation of the screenshot's grey levels (0..255) and the share of pixels that
    are not the background colour: a blank page is ~0 for both."""
    import numpy as np
    from PIL import Image
    grey = np.asarray(Image.open(png_path).convert("L"), dtype=float)
    background = np.bincount(grey.astype(int).ravel()).argmax()
    return float(grey.std()), float((np.abs(grey - background) > 8).mean())
