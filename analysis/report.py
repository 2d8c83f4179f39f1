#!/usr/bin/python3
"""One self-contained HTML report of a shmjob run, from its metrics log.

    /usr/bin/python3 analysis/report.py out/default/default.metrics.jsonl            # -> out/default/report.html
    /usr/bin/python3 analysis/report.py LOG -o report.html
    /usr/bin/python3 analysis/report.py --follow LOG [--every 2]              # while the job runs

The page needs nothing but itself (figures are inline SVG, no scripts or fonts from the
network): copy it off the cluster and open it anywhere. With --follow the file is rewritten every
few seconds and reloads itself in the browser until the log's job_end record appears.
Debian's python3-numpy and python3-matplotlib only. Reading guide: docs/metrics.md, "The report".
"""
import argparse
import html
import io
import json
import os
import sys
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shmjob_metrics as sm  # noqa: E402

plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "axes.grid": True, "grid.alpha": 0.3,
                     "axes.spines.top": False, "axes.spines.right": False, "svg.hashsalt": "shmjob"})
STAGE_COLOURS = sm.STAGE_COLOURS
REDUCTIONS = ("sum", "mean", "min", "max", "count_nonzero")
PART_COLOURS = sm.PART_COLOURS
E = html.escape


def svg(fig):
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and doctype: inline SVG in HTML


def no_data(message):
    return f'<p class="empty">{E(message)}</p>'


# --- figures -------------------------------------------------------------------------------

def throughput_figure(run, series):
    if len(series.t) < 2:
        return no_data("Not enough samples for a time series yet.")
    fig, ax = plt.subplots(figsize=(10, 3.12))
    t, mb_in, mb_out = sm.throughput(series)
    ax.step(t, mb_in, where="pre", label="in (raw bytes compressed)", color="#4e79a7")
    ax.step(t, mb_out, where="pre", label="out (bytes written)", color="#59a14f")
    if run.end:
        ax.axhline(run.end["mb_per_s_in"], color="#4e79a7", ls=":", lw=1, label="run average in")
        ax.axhline(run.end["mb_per_s_out"], color="#59a14f", ls=":", lw=1, label="run average out")
    for event in run.events:  # signals and errors where they happened
        if event.get("kind") in ("signal", "error", "stall") and event.get("t") is not None:
            ax.axvline(event["t"], color="#e15759" if event["kind"] == "error" else "#f28e2b", lw=1, ls="--")
            ax.annotate(event["kind"] + ("" if event.get("rank") is None else f" (rank {event['rank']})"),
                        (event["t"], 1), xycoords=("data", "axes fraction"), fontsize=7, rotation=90,
                        va="top", ha="right", color="#555")
    ax.set_xlabel("seconds since start")
    ax.set_ylabel("MB/s")
    ax.set_xlim(0, max(series.t[-1], 1e-3))
    ax.set_ylim(bottom=0)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), fontsize=8, ncol=4, frameon=False)
    return svg(fig)


def stage_time_figure(run):
    use = sm.stage_use(run)
    if not use:
        return no_data("No stage utilisation yet.")
    stages = sm.stage_rows(use)
    fig, ax = plt.subplots(figsize=(10, 0.6 * len(stages) + 0.48))
    labels = []
    for row, stage in enumerate(reversed(stages)):
        u = use.get(stage, {})
        left = 0.0
        for part in sm.TIME_PARTS + ("other",):
            width = max(0.0, 1.0 - left) if part == "other" else u.get(part, 0.0)
            ax.barh(row, width, left=left, color=PART_COLOURS[part],
                    label=sm.TIME_PART_LABELS[part] if row == 0 else None)
            if width >= 0.07:
                ax.text(left + width / 2, row, sm.pct(width), ha="center", va="center", fontsize=8,
                        color="white" if part in ("busy", "wait_disk", "wait_slot") else "black")
            left += width
        labels.append(f"transform ({u.get('ranks', '?')} compressors)" if stage == "transform"
                      else f"{sm.PLURAL[stage]} ({u.get('ranks', '?')})")
    ax.set_yticks(range(len(stages)), labels)
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.grid(False)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=5, fontsize=8, frameon=False)
    return svg(fig)


def heatmap_figure(series):
    util = series.utilisation()
    rows = [i for i, (_, role, _) in enumerate(series.ranks) if role != "idle"]
    if util.shape[1] == 0 or not rows:
        return no_data("Not enough samples for the utilisation map yet.")
    util = util[rows]
    height = min(0.18 * len(rows) + 1.0, 9)
    fig, ax = plt.subplots(figsize=(10, height))
    ax.grid(False)
    # One column per sample interval (pcolormesh keeps uneven intervals honest).
    mesh = ax.pcolormesh(series.t, np.arange(len(rows) + 1), util, cmap="viridis", vmin=0, vmax=1,
                         shading="flat", rasterized=True)
    step = max(1, len(rows) // 24)
    ax.set_yticks(np.arange(len(rows))[::step] + 0.5,
                  [f"{series.ranks[i][0]} {series.ranks[i][1][:4]}" for i in rows][::step], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("seconds since start")
    ax.set_ylabel("rank, role")
    ax.grid(False)
    fig.colorbar(mesh, ax=ax, label="busy fraction", pad=0.01)
    return svg(fig)


def queues_figure(series):
    samples = series.node_samples.get(0) or next(iter(series.node_samples.values()), [])
    if not samples:
        return no_data("No samples yet.")
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 2.88))
    q = sm.queue_series(samples)
    t = q["t"]
    a.step(t, q["ready"], where="post", label="ready for compression", color="#f28e2b")
    a.step(t, q["inbox"], where="post", label="waiting for a writer", color="#59a14f")
    a.set_title("queue depth (matrices)", fontsize=9)
    a.set_xlabel("seconds since start")
    a.set_ylim(bottom=0)
    a.legend(fontsize=7)
    b.step(t, q["raw"], where="post", label="raw slots (producers')", color="#4e79a7")
    b.step(t, q["compressed"], where="post", label="compressed slots (compressors')", color="#f28e2b")
    b.set_title("slots in use", fontsize=9)
    b.set_xlabel("seconds since start")
    b.set_ylim(0, 1.05)
    b.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    b.legend(fontsize=7)
    fig.tight_layout()
    return svg(fig)


def latency_figure(run, series):
    samples = series.node_samples.get(0) or []
    t, p50 = sm.node_metric(samples, lambda s: s["latency"]["p50_s"] if s["latency"]["n"] else None)
    _, p90 = sm.node_metric(samples, lambda s: s["latency"]["p90_s"] if s["latency"]["n"] else None)
    _, p99 = sm.node_metric(samples, lambda s: s["latency"]["p99_s"] if s["latency"]["n"] else None)
    buckets = ((run.end or {}).get("latency") or {}).get("buckets")
    if not np.isfinite(p50).any() and not buckets:
        return no_data("No matrix has been written yet.")
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 2.88))
    for values, label, style in ((p50, "p50", "-"), (p90, "p90", "--"), (p99, "p99", ":")):
        a.plot(t, values * 1e3, style, marker=".", label=label, color="#b07aa1")
    a.set_title("produced → written, per sample (ms)", fontsize=9)
    a.set_xlabel("seconds since start")
    a.set_ylim(bottom=0)
    a.legend(fontsize=7)
    if buckets:
        lows = np.array([x[0] for x in buckets]) * 1e3
        highs = np.array([x[1] if x[1] is not None else x[0] * 2 for x in buckets]) * 1e3
        counts = np.array([x[2] for x in buckets])
        b.bar(np.maximum(lows, 1e-3), counts, width=highs - np.maximum(lows, 1e-3), align="edge",
              color="#b07aa1", edgecolor="white")
        b.set_xscale("log")
        b.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        b.set_title("whole run: matrices by latency (ms)", fontsize=9)
    else:
        b.text(0.5, 0.5, "whole-run histogram\nat the end of the run", ha="center", va="center",
               transform=b.transAxes)
        b.set_axis_off()
    fig.tight_layout()
    return svg(fig)


def ratio_figure(run, series):
    dist = (run.end or {}).get("compression_ratios") or {}
    have_series = len(series.t) >= 2
    if not dist.get("counts") and not have_series:
        return no_data("No matrix has been compressed yet.")
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 2.88))
    if dist.get("counts"):
        edges = np.array(dist["edges"])
        widths = np.diff(edges) if len(edges) > 1 else np.array([max(edges[0] * 0.02, 1e-3)])
        b.bar(edges[:-1] if len(edges) > 1 else edges, dist["counts"], width=widths, align="edge",
              color="#76b7b2", edgecolor="white")
        b.set_title("matrices by compression ratio", fontsize=9)
        b.set_xlabel("raw / stored bytes")
    else:
        b.set_axis_off()
    if have_series:
        raw = series.rate("bytes_in", {"compressor"})
        out = series.rate("bytes_out", {"compressor"})
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(out > 0, raw / out, np.nan)
        a.step(series.t[1:], ratio, where="pre", color="#76b7b2")
        if run.end:
            a.axhline(run.end["ratio"], ls=":", color="#555", lw=1, label="run ratio")
            a.legend(fontsize=7)
        a.set_title("compression ratio per sample", fontsize=9)
        a.set_xlabel("seconds since start")
        a.set_ylim(bottom=0)
    else:
        a.set_axis_off()
    fig.tight_layout()
    return svg(fig)


def reduction_image(values, title):
    """A heat map of one reduction (a matrix): an inline SVG whose image is a PNG inside it."""
    rows, cols = values.shape
    width = 7.0
    height = min(max(width * rows / max(cols, 1), 1.2), 7.0)
    fig, ax = plt.subplots(figsize=(width + 1.2, height + 0.6))
    ax.grid(False)
    finite = values[np.isfinite(values)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    image = ax.imshow(values, cmap="magma", vmin=lo, vmax=hi if hi > lo else lo + 1, aspect="auto",
                      interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("column")
    ax.set_ylabel("row")
    fig.colorbar(image, ax=ax, pad=0.01)
    return svg(fig)


# --- tables --------------------------------------------------------------------------------

def rank_table(run, series):
    plan = {r["rank"]: r for r in ((run.start or {}).get("plan") or {}).get("ranks", [])}
    totals = {r["rank"]: r for r in (run.end or {}).get("ranks", [])}
    last = {}
    for node, samples in series.node_samples.items():
        if samples:
            for r in samples[-1]["ranks"]:
                last[r["rank"]] = (samples[-1]["t"], r)
    ranks = sorted(set(plan) | set(totals) | set(last))
    seconds = (run.end or {}).get("seconds")
    head = ("rank", "host", "role", "lane", "NUMA", "PUs", "matrices", "busy", "disk", "wait input",
            "wait slot", "helped", "CPU s", "RSS")
    rows = []
    for rank in ranks:
        p = plan.get(rank, {})
        t_last, sample = last.get(rank, (None, {}))
        src = totals.get(rank) or sample
        span = seconds if rank in totals else t_last
        frac = (lambda k: sm.pct(src.get(k, 0) / span) if span else "–")
        rss = src.get("max_rss_bytes", sample.get("rss_bytes"))
        rows.append((rank, p.get("host", ""), p.get("role", src.get("role", "")), p.get("lane", ""),
                     p.get("numa", ""), p.get("pus", "") or "not bound", src.get("matrices", ""),
                     frac("busy_s"), frac("wait_disk_s"), frac("wait_input_s"), frac("wait_slot_s"),
                     help_cell(src.get("help"), span),
                     sm.fmt_number(src.get("cpu_s"), 2) if src.get("cpu_s") is not None else "–",
                     sm.fmt_bytes(rss) if rss is not None else "–"))
    body = "".join("<tr>" + "".join(f"<td>{E(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return (f'<table class="ranks"><thead><tr>{"".join(f"<th>{h}</th>" for h in head)}</tr></thead>'
            f"<tbody>{body}</tbody></table>")


def help_cell(help, span):
    """A rank's work for other stages (elastic): "12 compressed (30%)", "–" without."""
    if not help:
        return "–"
    seconds = {"compressed": "compress_s", "produced": "produce_s"}
    parts = [f"{help[k]} {k}" + (f" ({sm.pct(help.get(seconds[k], 0) / span)})" if span else "")
             for k in seconds if help.get(k)]
    return ", ".join(parts) or "–"


def elastic_html(run):
    """Elastic stages: which stages other ranks helped, with what; None when no rank helped."""
    stages = sm.stage_use(run)
    lines = []
    for stage, verb in (("compressor", "compressed"), ("producer", "produced")):
        use = stages.get(stage) or {}
        if use.get("helped"):
            lines.append(f'<li data-stage="{stage}" data-helped="{int(use["helped"])}">Other ranks {verb} '
                         f'<b>{sm.fmt_number(int(use["helped"]))}</b> matrices for the {stage}s, '
                         f'{sm.pct(use.get("help", 0))} of their own rank-time again.</li>')
    if not lines:
        return None
    return ('<ul id="elastic">' + "".join(lines) + '</ul><p class="sub">Elastic stages (<code>stages.elastic</code>): '
            'a rank whose own stage had nothing to do worked for the stage that limited the job, on a core that '
            'would otherwise have been idle. Per rank: the "helped" column of the table below.</p>')


def choices_html(run):
    """compression.level / shuffle "auto": the level and the shuffle decisions over time; None
    when neither is "auto"."""
    compression = ((run.start or {}).get("config") or {}).get("compression") or {}
    if "auto" not in (compression.get("level"), compression.get("shuffle")):
        return None
    samples = run.node_samples(0)
    c = sm.compression_series(samples)
    totals = sm.compression_choices(run)
    text = ""
    if totals:
        text = (f'<p id="choices" data-mean-level="{totals["mean_level"]:.2f}" data-shuffled="{totals["shuffled"]}">'
                f'<b>{sm.fmt_number(totals["matrices"])}</b> matrices compressed at a mean level of '
                f'<b>{totals["mean_level"]:.1f}</b>; <b>{sm.pct(totals["shuffled"] / totals["matrices"])}</b> '
                f'of them shuffled ({sm.fmt_number(totals["shuffle_probes"])} compressed both ways to choose).</p>')
    if c is None or len(c["t"]) < 1:
        return text + no_data("No samples with compression choices yet.")
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 2.88))
    a.step(c["t"], c["level"], where="post", color="#4e79a7")
    a.set_title("zstd level (node 0)" + (" — auto" if compression.get("level") == "auto" else ""), fontsize=9)
    a.set_xlabel("seconds since start")
    lr = compression.get("level_range") or [1, 22]
    a.set_ylim(lr[0] - 0.5, lr[1] + 0.5)
    b.step(c["t"], c["shuffled"], where="post", color="#f28e2b")
    b.set_title("matrices stored shuffled, per sample interval", fontsize=9)
    b.set_xlabel("seconds since start")
    b.set_ylim(-0.05, 1.05)
    b.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    fig.tight_layout()
    return (text + f'<div class="plot">{svg(fig)}</div><p class="sub"><code>compression.level: "auto"</code> '
            'raises the level while the compressors wait and lowers it while producers wait for them; '
            '<code>compression.shuffle: "auto"</code> compresses sample matrices both ways and keeps the smaller. '
            'Each matrix\'s level and shuffle are in its index row.</p>')


def events_table(run):
    items = list(run.events)
    if run.end and run.end.get("error"):
        items.append({"t": run.end.get("wall_seconds"), "level": "error", "kind": "job", "rank": None,
                      "message": f"job {run.end['status']}: {run.end['error']}"})
    if run.bad_lines:
        for file, number, text in run.bad_lines:
            items.append({"t": None, "level": "warning", "kind": "log", "rank": None,
                          "message": f"{os.path.basename(file)} line {number} is not complete JSON "
                                     f"(cut off?): {text}"})
    if not items:
        return '<p class="empty">No warnings, errors or signals.</p>'
    when = (lambda e: "" if e.get("t") is None else "%.2f s" % e["t"])
    rows = "".join(
        f'<tr class="{E(str(e.get("level")))}"><td>{when(e)}</td>'
        f'<td>{E(str(e.get("level")))}</td><td>{E(str(e.get("kind")))}</td>'
        f'<td>{"" if e.get("rank") is None else e["rank"]}</td><td>{E(str(e.get("message")))}</td></tr>'
        for e in items)
    return ("<table><thead><tr><th>time</th><th>level</th><th>kind</th><th>rank</th><th>message</th></tr>"
            f"</thead><tbody>{rows}</tbody></table>")


def find_master(run, explicit=None):
    """The master file of the log's job: `explicit`, else <job>.h5 next to the log, else in the
    config's output_dir (relative to the working directory). None if there is none."""
    if explicit:
        return explicit if os.path.exists(explicit) else None
    start = run.start or {}
    job = start.get("job")
    if not job:
        return None
    output_dir = (start.get("config") or {}).get("output_dir", "")
    for candidate in (os.path.join(os.path.dirname(os.path.abspath(run.path)), job + ".h5"),
                      os.path.join(output_dir, job + ".h5")):
        if os.path.exists(candidate):
            return candidate
    return None


def read_reductions(master):
    """{set name ("" for a one-set job): {reduction: (array, attributes)}} of the master's
    reduce/ group; {} without one. Needs h5py (python3-h5py); None when it is missing."""
    try:
        import h5py
    except ImportError:
        return None
    out = {}
    with h5py.File(master, "r") as f:
        group = f.get("reduce")
        if group is None:
            return {}
        for name, item in group.items():
            if isinstance(item, h5py.Dataset):
                out.setdefault("", {})[name] = (item[()], dict(item.attrs))
            else:
                for reduction, dataset in item.items():
                    out.setdefault(name, {})[reduction] = (dataset[()], dict(dataset.attrs))
    return out


def transform_html(run):
    """The transform's share of the compressors' time, the values its casts clamped, the operands
    (job_start) and each node's operand bytes and load times (job_end). None for a job without
    a transform or reductions."""
    totals = sm.transform_totals(run)
    ops = sm.operands(run)
    if totals is None and not ops:
        return None
    parts = []
    if totals is not None:
        when = " (so far, from the last sample)" if totals["provisional"] else ""
        parts.append(
            f'<p id="transform-totals" data-saturated="{int(totals["saturated"])}">The compressors spent '
            f'{sm.pct(totals["busy"])} of their time in the transform (its steps and the reductions){E(when)}; '
            f'<b>{sm.fmt_number(int(totals["saturated"]))}</b> values were saturated (clamped by a cast to the '
            'target type\'s range, or NaN cast to an integer).</p>')
    if ops:
        rows = "".join(
            f'<tr><td>{E(o["name"])}</td><td>{E(o["file"])}:{E(o["dataset"])}</td><td>{o["rows"]}×{o["cols"]}</td>'
            f'<td>{E(o["dtype"])}</td><td>{E(o["stored_dtype"])}</td><td>{E(o["replicate"])}</td>'
            f'<td class="num">{sm.fmt_bytes(o["bytes_per_copy"])}</td><td class="num">{o["copies"]}</td></tr>'
            for o in ops)
        parts.append('<table id="operands"><tr><th>operand</th><th>file:dataset</th><th>shape</th><th>dtype</th>'
                     '<th>kept as</th><th>replicate</th><th>bytes per copy</th><th>copies (node 0)</th></tr>'
                     f'{rows}</table>')
    nodes = [n for n in (run.end or {}).get("nodes", []) if "operand_bytes" in n]
    if nodes:
        def loads(n):
            return ", ".join("rank %d: %s in %s" % (x["rank"], sm.fmt_bytes(x["bytes"]), sm.fmt_seconds(x["seconds"]))
                             for x in n["operand_loads"])
        rows = "".join(
            f'<tr><td>{n["node"]}</td><td class="num">{sm.fmt_bytes(n["operand_bytes"])}</td>'
            f'<td>{E(loads(n))}</td></tr>' for n in nodes)
        parts.append('<table id="operand-nodes"><tr><th>node</th><th>operands in shared memory</th>'
                     f'<th>loaded by</th></tr>{rows}</table>')
    return "".join(parts)


def reductions_html(run, master):
    """Each set's mean (or sum without one) as a heat map with its min/max, and the reductions
    the master holds. None when the job has no reductions."""
    wanted = ((run.start or {}).get("config") or {}).get("reduce") or []
    if not wanted:
        return None
    if not master:
        return no_data("The job has reductions, but its master file was not found next to the log "
                       "(report.py --master PATH names it).")
    found = read_reductions(master)
    if found is None:
        return no_data("Reading the reductions needs h5py (Debian's python3-h5py).")
    if not found:
        return no_data(f"{master} has no reduce/ group (the job did not complete).")
    parts = []
    for set_name, arrays in sorted(found.items()):
        shown = "mean" if "mean" in arrays else "sum" if "sum" in arrays else None
        where = "reduce/" + (set_name + "/" if set_name else "")
        present = [r for r in REDUCTIONS if r in arrays] + sorted(set(arrays) - set(REDUCTIONS))
        count = next((a.get("matrices") for _, a in arrays.values() if "matrices" in a), None)
        if isinstance(count, bytes):
            count = count.decode()
        head = (f'<p class="sub">{E(where)}: {", ".join(E(r) for r in present)}'
                + (f" over {E(str(count))} matrices" if count is not None else "") + "</p>")
        if shown is None:
            parts.append(f'<div class="reduction" data-set="{E(set_name)}">{head}</div>')
            continue
        values = np.asarray(arrays[shown][0], dtype=np.float64)
        finite = values[np.isfinite(values)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (float("nan"), float("nan"))
        title = f"{where}{shown} ({values.shape[0]}×{values.shape[1]}): min {lo:.6g}, max {hi:.6g}"
        parts.append(f'<div class="reduction" data-set="{E(set_name)}" data-shown="{shown}" '
                     f'data-min="{lo!r}" data-max="{hi!r}">{head}'
                     f'<div class="plot">{reduction_image(values, title)}</div></div>')
    return "".join(parts)


# --- page ----------------------------------------------------------------------------------

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;color:#222;background:#f6f6f4}
main{max-width:1040px;margin:0 auto;padding:18px 24px 40px}
h1{font-size:22px;margin:4px 0}h2{font-size:16px;margin:26px 0 8px;border-bottom:1px solid #ddd;padding-bottom:3px}
.sub{color:#666;font-size:13px}
.banner{padding:10px 14px;border-radius:6px;margin:12px 0;font-weight:600}
.banner.bad{background:#fde2e1;color:#8a1c1c;border:1px solid #f3b0ad}
.banner.live{background:#e4f0fb;color:#1d4f80;border:1px solid #a9c9ea}
.banner.interrupted{background:#fff3d6;color:#7a5200;border:1px solid #f0d089}
.headline{display:grid;grid-template-columns:repeat(5,1fr);gap:8px}
.figure{background:#fff;border:1px solid #e2e2e2;border-radius:6px;padding:8px 10px}
.figure .value{font-size:20px;font-weight:650}.figure .label{font-size:12px;color:#666}
.verdict{background:#fff;border-left:5px solid #f28e2b;padding:10px 14px;border-radius:4px;margin-top:12px}
.verdict .stage{font-size:12px;text-transform:uppercase;color:#888;letter-spacing:.05em}
.verdict .sentence{font-size:16px;font-weight:600;margin:4px 0}
.verdict .suggestion{font-size:14px}
.plot{background:#fff;border:1px solid #e2e2e2;border-radius:6px;padding:6px;overflow-x:auto}
.plot svg{width:100%;height:auto}
table{border-collapse:collapse;font-size:12px;background:#fff;width:100%}
th,td{border:1px solid #e2e2e2;padding:3px 6px;text-align:left}th{background:#f0f0ee}
tr.error td{background:#fde2e1}tr.warning td{background:#fff6e0}
.empty{color:#888;font-style:italic}
details pre{background:#fff;border:1px solid #e2e2e2;padding:8px;font-size:11px;overflow-x:auto}
.facts td:first-child{width:160px;color:#666}
#cpu{font-size:13px}
table+table{margin-top:8px}
"""

# Records script errors on the page itself, so a headless browser's DOM dump can show them.
ERROR_PROBE = ("<script>document.documentElement.dataset.jsErrors='0';"
               "window.addEventListener('error',function(e){var d=document.documentElement.dataset;"
               "d.jsErrors=String(Number(d.jsErrors)+1);d.jsLastError=String(e.message);});</script>")


def status_banner(run, follow_every):
    if not run.finished:
        if follow_every:
            return (f'<div class="banner live" id="status">Running: {len(run.samples)} samples so far, last at '
                    f'{run.last_t:.1f} s. This page reloads every {follow_every} s until the job ends.</div>')
        return (f'<div class="banner bad" id="status">The run did not finish: the log ends after '
                f'{run.last_t:.1f} s ({len(run.samples)} samples) without a job_end record — the job was '
                'killed (or is still running). Figures below come from the last sample.</div>')
    status = run.end["status"]
    if status == "complete":
        return ""
    cls = "interrupted" if status == "interrupted" else "bad"
    written = f"{run.end['matrices']} of {run.end.get('expected', '?')} matrices written."
    return f'<div class="banner {cls}" id="status">The run ended {E(status)}: {written}</div>'


def headline_html(run):
    figures = sm.headline(run)
    if not figures:
        # No job_end: the last samples' progress, clearly marked as such.
        p = sm.progress(run)
        if not p:
            return no_data("No sample yet.")
        which = "last sample" if len(run.nodes) == 1 else "each node's last sample"
        return (f'<div class="headline" id="headline-provisional"><div class="figure"><div class="value">'
                f'{p["written"]} of {p["expected"]}</div><div class="label">matrices written at '
                f'{p["t"]:.1f} s ({which})</div></div></div>')
    cells = "".join(
        f'<div class="figure" data-key="{E(f.key)}" data-value="{E(json.dumps(f.value))}">'
        f'<div class="value">{E(f.text)}</div><div class="label">{E(f.label)}</div></div>' for f in figures)
    return f'<div class="headline" id="headline">{cells}</div>'


def verdict_html(run):
    v = sm.verdict(run)
    stage = v.get("stage", "none")
    title = "no single bottleneck" if stage == "none" else f"bottleneck: {sm.PLURAL.get(stage, stage)}"
    if v.get("provisional"):
        title += f" (provisional, from the sample at {v.get('t', 0):.1f} s)"
    return (f'<div class="verdict" id="verdict" data-stage="{E(stage)}"><div class="stage">{E(title)}</div>'
            f'<div class="sentence">{E(v.get("sentence", ""))}</div>'
            f'<div class="suggestion">What to change: {E(v.get("suggestion", ""))}</div></div>')


def facts_html(run):
    s = run.start or {}
    cfg = s.get("config", {})
    launch = s.get("launch", {})
    versions = s.get("versions", {})
    topo = s.get("topology", {})
    node0 = (s.get("plan") or {}).get("node0") or {}
    layout = node0.get("layout", {})
    m = cfg.get("matrices") or {}
    data = (f"{m.get('count')} × {m.get('rows')}×{m.get('cols')} {m.get('dtype')} {m.get('kind')}" if m
            else f"HDF5 input: {', '.join((cfg.get('input') or {}).get('files', []))}")
    rows = [
        ("started", s.get("time", "?")),
        ("data", data),
        ("compression", f"zstd level {cfg.get('compression', {}).get('level')}, shuffle "
                        f"{'on' if cfg.get('compression', {}).get('shuffle') else 'off'}"),
        ("ranks", f"{s.get('world_size', '?')} on {len(s.get('hosts', []))} host(s): "
                  f"{', '.join(s.get('hosts', []))}"),
        ("stages per node", f"{layout.get('producers', '?')} producers, {layout.get('compressors', '?')} "
                            f"compressors, {layout.get('writers', '?')} writers, {layout.get('idle', '?')} idle"),
        ("topology", f"{topo.get('summary', '?')} ({topo.get('source', '?')})"
                     + (", oversubscribed" if topo.get("oversubscribed") else "")),
        ("launched by", launch.get("launcher", "?") + (f", Slurm job {launch['slurm_job_id']}"
                                                      if launch.get("slurm_job_id") else "")),
        ("versions", ", ".join(f"{k} {v}" for k, v in versions.items())),
        ("log", run.path),
    ]
    if cfg.get("testing"):
        rows.append(("testing", f"test-only settings in use: {json.dumps(cfg['testing'])}"))
    body = "".join(f"<tr><td>{E(k)}</td><td>{E(str(v))}</td></tr>" for k, v in rows)
    return f'<table class="facts">{body}</table>'


def cpu_html(run):
    """CPU seconds per stage against what the node's cores could give: tells whether the
    machine itself was full (busy ranks then only share the cores)."""
    e, s = run.end, run.start or {}
    if not e:
        return no_data("CPU totals come with the job_end record.")
    cores = (s.get("topology") or {}).get("cores") or 0
    nodes = (s.get("plan") or {}).get("nodes", 1)
    available = cores * nodes * e["seconds"]
    parts = ", ".join(f"{sm.PLURAL.get(role, role)} {cpu:.1f} s" for role, cpu in e["cpu_s_by_role"].items())
    used = sum(e["cpu_s_by_role"].values())
    share = f" = {sm.pct(used / available)} of the {cores * nodes} cores × {e['seconds']:.2f} s" if available else ""
    return (f'<p id="cpu">CPU time of the ranks (start-up included): {E(parts)}; {used:.1f} s in all{E(share)}. '
            "A stage busy most of the time while the cores are nearly all used gets no faster with more ranks; "
            "with cores to spare it does.</p>")


def nodes_html(run):
    """Each node's share of the matrices: with several nodes, producers claim blocks of matrices
    from one job-wide counter, so a slower node takes fewer. None for a one-node job."""
    shares = sm.node_shares(run)
    if len(shares) > 1 and shares[0]["final"]:
        body = "".join(
            f'<tr><td>{n["node"]}</td><td>{E(n["host"])}</td><td>{n["ranks"]}</td>'
            f'<td class="num">{n["matrices"]}</td><td class="num">{sm.pct(n["share"])}</td>'
            f'<td class="num">{n["raw_bytes"] / 1e6:.1f}</td><td class="num">{n["shards"]}</td>'
            f'<td class="num">{n["blocks"]}</td></tr>' for n in shares)
        return ('<table class="nodes" id="nodes"><tr><th>node</th><th>host</th><th>ranks</th>'
                '<th>matrices</th><th>share</th><th>MB in</th><th>shards</th><th>blocks claimed</th></tr>'
                f'{body}</table><p class="sub">Matrices per node: what each node\'s writers wrote. '
                'Producers of every node claim blocks of matrices from one job-wide counter, so a '
                'slower node claims fewer blocks.</p>')
    if len(shares) > 1:  # still running, or killed: the nodes' last samples
        body = "".join(f"<tr><td>{n['node']}</td><td class=\"num\">{n['matrices']}</td></tr>" for n in shares)
        return (f'<table class="nodes" id="nodes"><tr><th>node</th><th>written so far</th></tr>{body}'
                '</table><p class="sub">Matrices per node from each node\'s last sample.</p>')
    return None


def render(run, follow_every=None, master=None):
    series = sm.series(run)
    transform = transform_html(run)
    reductions = reductions_html(run, find_master(run, master)) if run.finished else None
    title = f"shmjob report: {run.name}"
    refresh = f'<meta http-equiv="refresh" content="{follow_every}">' if follow_every and not run.finished else ""
    sections = [
        ("Headline", headline_html(run) + verdict_html(run)),
        ("Throughput over time", f'<div class="plot">{throughput_figure(run, series)}</div>'),
        ("Where the time went, per stage",
         f'<div class="plot">{stage_time_figure(run)}</div><p class="sub">Each bar is 100% of the '
         'stage\'s rank-seconds over the data flow. Busy: CPU work; disk: writers inside HDF5 writes; '
         'input: nothing to work on (the stage before is slower); free slot: output slots all held '
         'downstream (the stage after is slower).'
         + (' Transform: the compressors\' time in the transform (the rest of its bar is their other time); '
            'their own bar is then the rest of their work, compressing.' if "transform" in sm.stage_use(run) else "")
         + '</p>'),
        *([("Transform", transform)] if transform else []),
        *([("Elastic stages", elastic)] if (elastic := elastic_html(run)) else []),
        ("CPU", cpu_html(run)),
        ("Utilisation per rank over time",
         f'<div class="plot">{heatmap_figure(series)}</div><p class="sub">Fraction of each sample '
         'interval a rank was busy (CPU work or, for writers, the disk). Idle ranks are left out.</p>'),
        ("Queues and slots", f'<div class="plot">{queues_figure(series)}</div>'),
        ("Latency", f'<div class="plot">{latency_figure(run, series)}</div>'),
        ("Compression ratio", f'<div class="plot">{ratio_figure(run, series)}</div>'),
        *([("Compression choices", choices)] if (choices := choices_html(run)) else []),
        *([("Reductions", f'<div id="reductions">{reductions}</div>')] if reductions else []),
        ("Plan and ranks", rank_table(run, series)),
        *([("Nodes", nodes)] if (nodes := nodes_html(run)) else []),
        ("Errors and events", events_table(run)),
        ("Run", facts_html(run) + "<details><summary>config (every default filled in)</summary><pre>"
                + E(json.dumps((run.start or {}).get("config", {}), indent=2)) + "</pre></details>"),
    ]
    body = "".join(f'<section><h2>{E(h)}</h2>{content}</section>' for h, content in sections)
    generated = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">{refresh}'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{E(title)}</title>{ERROR_PROBE}<style>{CSS}</style></head><body><main>"
            f'<h1>{E(title)}</h1><div class="sub">generated {generated} from {E(run.path)} '
            f'(metrics schema {E(str((run.start or {}).get("schema_version", "?")))})</div>'
            f"{status_banner(run, follow_every)}{body}</main>"
            "<script>document.documentElement.dataset.rendered='1';</script></body></html>")


def write_atomically(path, text):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)  # a browser reloading mid-write never sees half a page


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("log", help="the job's metrics log (metrics.jsonl)")
    p.add_argument("-o", "--output", help="HTML file to write (default: report.html next to the log)")
    p.add_argument("--follow", action="store_true", help="rewrite the report while the job runs")
    p.add_argument("--every", type=float, default=2.0, help="with --follow: seconds between rewrites")
    p.add_argument("--master", help="the job's master file, for its reductions (default: <job>.h5 next to the log)")
    p.add_argument("--timeout", type=float, default=0,
                   help="with --follow: give up after this many seconds without the job ending (0: never)")
    args = p.parse_args(argv)
    output = args.output or os.path.join(os.path.dirname(os.path.abspath(args.log)), "report.html")
    if not args.follow:
        if not os.path.exists(args.log):
            p.error(f"{args.log}: no such file")
        run = sm.load(args.log)
        write_atomically(output, render(run, master=args.master))
        print(f"report: {output} ({run.status})")
        return 0
    every = max(args.every, 0.5)
    refresh = max(1, round(every))
    started = time.monotonic()
    announced = False
    while True:
        if os.path.exists(args.log):
            run = sm.load(args.log)
            write_atomically(output, render(run, follow_every=refresh, master=args.master))
            if not announced:
                print(f"report: {output} (open it in a browser; it reloads every {refresh} s)", flush=True)
                announced = True
            if run.finished:
                print(f"report: {output} ({run.status})")
                return 0
        if args.timeout and time.monotonic() - started > args.timeout:
            print(f"report: {args.log} has no job_end after {args.timeout:.0f} s; stopped following",
                  file=sys.stderr)
            return 1
        time.sleep(every)


if __name__ == "__main__":
    sys.exit(main())
