#!/usr/bin/env python3
"""Runs with a known bottleneck are diagnosed as such, in the job_end record, in the last sample
and on the report page; compare.py lists both runs side by side.

- compressor-bound: one compressor at zstd level 17 for one producer and two writers;
- writer-bound: one writer on a "slow disk" (testing.writer_delay_ms: it sleeps after every chunk
  write) behind two producers and two compressors at level 1;
- the compressor-bound run again with elastic stages: still compressor-bound, its verdict says
  other ranks helped (on a node of two or more cores), and the report has an "Elastic stages"
  section whose count equals job_end's;
- transform-bound: one compressor multiplying each 512x512 matrix by a 512x512 operand (matmul)
  before a saturating cast, with reductions. Its log has a "transform" stage; its report shows the
  transform's bar, the saturated count, the operands and the mean image as a heat map with the
  min/max of the master's reduce/mean, and headless Chromium opens it without errors.

usage: bottleneck_test.py SHMJOB
"""
import os
import re
import subprocess
import sys
import tempfile

import h5py
import numpy as np

from helpers.report_common import (ANALYSIS, PYTHON, chromium, chromium_binary, fail, make_report, page_problems,
                                   run_job, screenshot_spread)

sys.path.insert(0, ANALYSIS)
import shmjob_metrics as sm  # noqa: E402

# Fixed stages (stages.elastic false), so that the stages that are not the limit wait for it; the
# elastic run below lets them help instead.
RUNS = {
    "compressor": (4, {"job": "few_compressors",
                       "matrices": {"count": 24, "rows": 256, "cols": 256, "kind": "random"},
                       "stages": {"producers": 1, "compressors": 1, "writers": 2, "elastic": False},
                       "compression": {"level": 17}, "metrics": {"interval_s": 0.1},
                       # 4 slots: with auto's 32 (512 KiB matrices) all 24 would fit at once and
                       # the producer would never have to wait
                       "slots": {"per_producer": 4, "per_compressor": 4}}),
    "writer": (5, {"job": "slow_writer",
                   "matrices": {"count": 60, "rows": 128, "cols": 128, "kind": "smooth"},
                   "stages": {"producers": 2, "compressors": 2, "writers": 1, "elastic": False},
                   "compression": {"level": 1}, "metrics": {"interval_s": 0.1},
                   "slots": {"per_producer": 4, "per_compressor": 4},
                   "testing": {"writer_delay_ms": 25}}),
    "transform": (4, {"job": "matmul_chain",
                      "matrices": {"count": 60, "rows": 512, "cols": 512, "kind": "random"},
                      "stages": {"producers": 1, "compressors": 1, "writers": 2, "elastic": False},
                      "compression": {"level": 1}, "metrics": {"interval_s": 0.1},
                      "slots": {"per_producer": 4, "per_compressor": 4},
                      "operands": {"P": {"file": "OPERANDS", "dataset": "/P"}},
                      "transform": [{"op": "matmul", "operand": "P"}, {"op": "scale", "factor": 1000.0},
                                    {"op": "cast", "dtype": "int16"}],
                      "reduce": ["mean", "sum", "max"]}),
}


def check_transform_report(run, page, page_path, master):
    """The transform run's page: its stage bar, saturated count, operands and the mean image."""
    if "transform (1 compressors)" not in page:
        fail("the stage bars have no transform row")
    saturated = re.search(r'id="transform-totals" data-saturated="(\d+)"', page)
    expected = run.end["stages"]["transform"]["saturated"]
    if not saturated or int(saturated.group(1)) != expected or expected == 0:
        fail(f"the page shows {saturated and saturated.group(1)} saturated values, job_end has {expected}")
    if 'id="operands"' not in page or "<td>P</td>" not in page:
        fail("the operands table is missing")
    with h5py.File(master, "r") as f:
        mean = f["reduce/mean"][...]
        present = sorted(f["reduce"])
    shown = re.search(r'class="reduction" data-set="" data-shown="(\w+)" data-min="([^"]+)" data-max="([^"]+)"', page)
    if not shown or shown.group(1) != "mean":
        fail(f"the reductions section does not show the mean: {shown and shown.groups()}")
    if float(shown.group(2)) != float(mean.min()) or float(shown.group(3)) != float(mean.max()):
        fail(f"mean image min/max {shown.group(2)}/{shown.group(3)} != the master's {mean.min()}/{mean.max()}")
    listed = re.search(r"reduce/: ([a-z_, ]+) over 60 matrices", page)
    if not listed or sorted(listed.group(1).split(", ")) != present:
        fail(f"the reductions listed {listed and listed.group(1)} are not the master's {present}")
    section = page[page.index('id="reductions"'):]
    if "<image" not in section[:section.index("</section>")]:
        fail("the mean heat map has no image")
    if chromium_binary():
        problems, dom = page_problems(page_path)
        if problems:
            fail("Chromium reports problems on the transform page:\n" + "\n".join(problems[:10]))
        if 'id="reductions"' not in dom:
            fail("Chromium's DOM has no reductions section")
        png = page_path + ".png"
        chromium(page_path, f"--screenshot={png}", "--window-size=1100,5200")
        spread, inked = screenshot_spread(png)
        if spread < 20 or inked < 0.05:
            fail(f"the transform page's screenshot looks blank (grey std {spread:.1f}, {inked:.1%} drawn)")
        print(f"transform page: Chromium shows it without errors (screenshot grey std {spread:.1f})")


def check_elastic(shmjob, tmp):
    ranks, config = RUNS["compressor"]
    config = dict(config, job="few_compressors_elastic", stages=dict(config["stages"], elastic=True))
    log = run_job(shmjob, ranks, config, tmp)
    problems = sm.schema_errors(log)
    if problems:
        fail(f"{config['job']}: log does not match the schema:\n" + "\n".join(problems[:10]))
    run = sm.load(log)
    verdict = run.end["bottleneck"]
    print(f"{config['job']}: {verdict['sentence']}")
    if verdict["stage"] != "compressor":
        fail(f"{config['job']}: diagnosed {verdict['stage']}-bound, expected compressor-bound")
    helped = run.end["stages"]["compressor"].get("helped", 0)
    if (run.start.get("topology") or {}).get("cores", 2) >= 2:
        if helped == 0 or "Other ranks helped with" not in verdict["sentence"]:
            fail(f"{config['job']}: no help in the verdict ({helped} helped): {verdict['sentence']}")
    page = make_report(log, os.path.join(tmp, f"{config['job']}.html"))
    shown = re.search(r'data-stage="compressor" data-helped="(\d+)"', page)
    if helped and (not shown or int(shown.group(1)) != helped):
        fail(f"{config['job']}: the report's elastic section shows {shown and shown.group(1)}, job_end {helped}")


def main():
    shmjob = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="shmjob-bottleneck-") as tmp:
        logs = []
        operands = os.path.join(tmp, "operands.h5")
        with h5py.File(operands, "w") as f:
            f["P"] = np.random.default_rng(7).standard_normal((512, 512))
        for stage, (ranks, config) in RUNS.items():
            if "operands" in config:
                config = dict(config, operands={"P": {"file": operands, "dataset": "/P"}})
            log = run_job(shmjob, ranks, config, tmp)
            logs.append(log)
            problems = sm.schema_errors(log)
            if problems:
                fail(f"{config['job']}: log does not match the schema:\n" + "\n".join(problems[:10]))
            run = sm.load(log)
            verdict = run.end["bottleneck"]
            use = run.end["stages"]
            print(f"{config['job']}: {verdict['sentence']} -> {verdict['suggestion']}")
            print("  active: " + ", ".join(f"{s} {use[s]['active']:.0%}" for s in sm.stage_rows(use)))
            if verdict["stage"] != stage:
                fail(f"{config['job']}: diagnosed {verdict['stage']}-bound, expected {stage}-bound")
            last = run.node_samples(0)[-1]["bottleneck"]["stage"]
            if last != stage:
                fail(f"{config['job']}: the last sample says {last}-bound")
            if stage == "writer" and not use["writer"]["wait_disk"] > use["writer"]["busy"]:
                fail("the throttled writer's time is not counted as time on the disk")
            if stage == "compressor" and not use["producer"]["wait_slot"] > use["producer"]["busy"]:
                fail("producers behind a slow compressor did not mostly wait for free slots")
            page = make_report(log, os.path.join(tmp, f"{config['job']}.html"))
            shown = re.search(r'id="verdict" data-stage="(\w+)"', page)
            if not shown or shown.group(1) != stage:
                fail(f"{config['job']}: the report shows {shown and shown.group(1)}")
            if stage == "writer" and "test-only settings in use" not in page:
                fail("the report does not flag the testing section")
            if stage == "transform":
                check_transform_report(run, page, os.path.join(tmp, f"{config['job']}.html"),
                                       os.path.join(tmp, config["job"], config["job"] + ".h5"))
            elif "transform" in use or 'id="reductions"' in page:
                fail(f"{config['job']}: a job without a transform shows one")

        check_elastic(shmjob, tmp)

        html_path = os.path.join(tmp, "compare.html")
        run = subprocess.run([PYTHON, os.path.join(ANALYSIS, "compare.py"), *logs, "-o", html_path],
                             capture_output=True, text=True, timeout=120)
        print(run.stdout)
        if run.returncode != 0:
            fail(f"compare.py exited {run.returncode}: {run.stderr}")
        rows = run.stdout.splitlines()
        for job, stage in (("few_compressors", "compressor"), ("slow_writer", "writer"), ("matmul_chain", "transform")):
            row = next((r for r in rows if r.startswith(job)), "")
            if not row.rstrip().endswith(stage):
                fail(f"compare.py row for {job} does not end with {stage}: {row!r}")
        with open(html_path) as f:
            table = f.read()
        if table.count("<tr>") != 4 or "few_compressors" not in table:
            fail("compare.py's HTML table does not hold the three runs")
    print("OK")


if __name__ == "__main__":
    main()
