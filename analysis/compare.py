#!/usr/bin/python3
"""Side-by-side table of shmjob runs from their metrics logs, for tuning sessions.

    /usr/bin/python3 analysis/compare.py out/a/a.metrics.jsonl out/b/b.metrics.jsonl [-o compare.html]
    /usr/bin/python3 analysis/compare.py bench-before.json bench-after.json   # bench/run results

Prints one row per run (split, level, throughput in and out, ratio, how busy each stage was, p50
latency, the bottleneck) and with -o also writes the table as a self-contained HTML page with
each run's verdict. A run without a job_end record is listed as "did not finish". A results file
of bench/run (JSON, "format": "shmjob-bench") gives one row per workload instead: throughput
(median and spread over rounds), the bounds measured next to it and the ratio to them.
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


BENCH_FORMAT = "shmjob-bench"
BENCH_COLUMNS = ["file", "workload", "P/C/W", "rounds", "matrices/s", "MB/s in", "MB/s out", "ratio",
                 "compr. bound matrices/s", "disk bound MB/s", "vs bound", "CPU efficiency", "first write s"]


def load_bench(path):
    """A bench/run results file, or None when `path` is not one (e.g. a metrics log)."""
    if not path.endswith(".json"):
        return None
    import json
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("format") == BENCH_FORMAT else None


def bench_rows(path, doc):
    def spread(d, spec):
        if not d or d.get("median") is None:
            return "–"
        if d.get("n", 1) > 1:
            return f"{format(d['median'], spec)} [{format(d['min'], spec)}..{format(d['max'], spec)}]"
        return format(d["median"], spec)

    rows = []
    for res in doc.get("workloads", []):
        s = res.get("summary", {})
        sp = s.get("split") or {}
        rows.append([os.path.basename(path), res["workload"]["name"],
                     "/".join(str(sp.get(k, "?")) for k in ("producers", "compressors", "writers")),
                     f"{s.get('ok_rounds', 0)}/{s.get('rounds', 0)}",
                     spread(s.get("matrices_per_s"), ".1f"), spread(s.get("mb_per_s_in"), ".1f"),
                     spread(s.get("mb_per_s_out"), ".1f"), spread(s.get("ratio"), ".2f"),
                     spread(s.get("compression_bound_matrices_per_s"), ".1f"),
                     spread(s.get("disk_bound_mb_per_s"), ".0f"), spread(s.get("vs_bound"), ".3f"),
                     spread(s.get("cpu_efficiency"), ".3f"), spread(s.get("first_write_s"), ".2f")])
    return rows


def plain_table(header, cells):
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(header)]
    line = lambda values: "  ".join(v.ljust(w) for v, w in zip(values, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(c) for c in cells])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("logs", nargs="+", help="metrics logs (metrics.jsonl) of the runs")
    p.add_argument("-o", "--output", help="also write the table as HTML")
    args = p.parse_args(argv)
    missing = [log for log in args.logs if not os.path.exists(log)]
    if missing:
        p.error(f"no such file: {', '.join(missing)}")
    benches = {log: load_bench(log) for log in args.logs}
    logs = [log for log in args.logs if benches[log] is None]
    bench_cells = [row for log in args.logs if benches[log] is not None for row in bench_rows(log, benches[log])]
    runs = [sm.load(log) for log in logs]
    rows = [sm.compare_row(run) for run in runs]
    if logs:
        print(text_table(rows))
    if bench_cells:
        if logs:
            print()
        print(plain_table(BENCH_COLUMNS, bench_cells))
    if args.output:
        page = html_page(runs, rows)
        if bench_cells:
            e = html.escape
            table = ('<h2>bench/run workloads</h2><table id="bench"><thead><tr>' +
                     "".join(f"<th>{e(h)}</th>" for h in BENCH_COLUMNS) + "</tr></thead><tbody>" +
                     "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in bench_cells) +
                     "</tbody></table>")
            page = page.replace("</body>", table + "</body>")
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(page)
        print(f"compare: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
