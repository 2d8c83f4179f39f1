#!/usr/bin/python3
"""Side-by-side table of shmjob runs from their metrics logs, for tuning sessions.

    /usr/bin/python3 analysis/compare.py out/a/metrics.jsonl out/b/metrics.jsonl [-o compare.html]

Prints one row per run (split, level, throughput in and out, ratio, how busy each stage was, p50
latency, the bottleneck) and with -o also writes the table as a self-contained HTML page with
each run's verdict. A run without a job_end record is listed as "did not finish".
"""
import argparse
import html
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shmjob_metrics as sm  # noqa: E402


def text_table(rows):
    header = [label for _, label, _ in sm.COMPARE_COLUMNS]
    cells = [sm.compare_cells(r) for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    line = lambda values: "  ".join(v.ljust(w) for v, w in zip(values, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(c) for c in cells])


def html_page(runs, rows):
    e = html.escape
    head = "".join(f"<th>{e(label)}</th>" for _, label, _ in sm.COMPARE_COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in sm.compare_cells(r)) + "</tr>" for r in rows)
    verdicts = "".join(
        f"<li><b>{e(r['run'])}</b> ({e(r['log'])}): {e(v.get('sentence', ''))} "
        f"<i>{e(v.get('suggestion', ''))}</i></li>"
        for r, v in ((r, sm.verdict(run)) for r, run in zip(rows, runs)))
    css = ("body{font-family:system-ui,Helvetica,Arial,sans-serif;margin:24px;color:#222}"
           "table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #ddd;padding:4px 8px}"
           "th{background:#f0f0ee}td{text-align:right}td:first-child{text-align:left}li{margin:4px 0}")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>shmjob runs compared</title>'
            f"<style>{css}</style></head><body><h1>shmjob runs compared</h1>"
            f'<table id="compare"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
            f"<h2>Bottlenecks</h2><ul>{verdicts}</ul></body></html>")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("logs", nargs="+", help="metrics logs (metrics.jsonl) of the runs")
    p.add_argument("-o", "--output", help="also write the table as HTML")
    args = p.parse_args(argv)
    missing = [log for log in args.logs if not os.path.exists(log)]
    if missing:
        p.error(f"no such file: {', '.join(missing)}")
    runs = [sm.load(log) for log in args.logs]
    rows = [sm.compare_row(run) for run in runs]
    print(text_table(rows))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(html_page(runs, rows))
        print(f"compare: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
