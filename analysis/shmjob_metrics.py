"""Read a shmjob metrics log (JSON Lines, docs/metrics.md) and derive what the report and the
comparison show: headline figures, the bottleneck verdict, per-stage utilisation and time
series on a common time grid. Shared by report.py and compare.py; Debian's numpy only.

    import shmjob_metrics as sm
    run = sm.load("out/default/default.metrics.jsonl")
    for figure in sm.headline(run): print(figure.label, figure.text)
    print(sm.verdict(run)["sentence"])
"""
import glob
import json
import math
import os
from dataclasses import dataclass, field

import numpy as np

SCHEMA_VERSION = 1
STAGES = ("producer", "compressor", "writer")
PLURAL = {"producer": "producers", "compressor": "compressors", "writer": "writers", "transform": "transform"}
# The stages of a job with a transform or reductions, in data-flow order: the transform is the
# compressors' time in it, "compressor" then the rest of their busy time (compressing).
TRANSFORM_STAGES = ("producer", "transform", "compressor", "writer")
# Where a stage's rank-seconds went, in the order the stacked bars show them.
TIME_PARTS = ("busy", "wait_disk", "wait_input", "wait_slot")
# Colours of the stages and of the parts of their time, shared by the report and the dashboard.
STAGE_COLOURS = {"producer": "#4e79a7", "compressor": "#f28e2b", "writer": "#59a14f", "idle": "#bab0ac"}
PART_COLOURS = {"busy": "#4e79a7", "wait_disk": "#9c755f", "wait_input": "#edc948", "wait_slot": "#e15759",
                "other": "#d9d9d9"}
TIME_PART_LABELS = {"busy": "busy (CPU work)", "wait_disk": "waiting for the disk",
                    "wait_input": "waiting for input", "wait_slot": "waiting for a free slot",
                    "other": "outside the stage loop"}


@dataclass
class RunLog:
    path: str
    start: dict = None
    samples: list = field(default_factory=list)  # every node's, in file order
    events: list = field(default_factory=list)
    end: dict = None
    bad_lines: list = field(default_factory=list)  # (file, line number, text) that did not parse

    @property
    def finished(self):
        return self.end is not None

    @property
    def name(self):
        if self.start:
            return self.start.get("job", os.path.basename(self.path))
        return os.path.basename(self.path)

    def node_samples(self, node=0):
        return [s for s in self.samples if s.get("node", 0) == node]

    @property
    def nodes(self):
        return sorted({s.get("node", 0) for s in self.samples}) or [0]

    @property
    def last_t(self):
        return max((s["t"] for s in self.samples), default=0.0)

    @property
    def status(self):
        return self.end["status"] if self.end else "did not finish"


def _read_lines(path, run):
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                # The last line of a killed job may be cut short: keep what came before.
                run.bad_lines.append((path, number, line[:80]))
                continue
            yield record


def load(path):
    """Reads LOG and the other nodes' logs next to it (LOG.node1, LOG.node2, ...)."""
    run = RunLog(path=path)
    node_files = sorted(glob.glob(glob.escape(path) + ".node*"),
                        key=lambda p: int(p.rsplit(".node", 1)[1]) if p.rsplit(".node", 1)[1].isdigit() else 0)
    for file in [path] + node_files:
        for record in _read_lines(file, run):
            kind = record.get("type")
            if kind == "job_start":
                # A resumed job appends its run to the earlier runs' log (node 0's; the other
                # nodes' logs start afresh): the last run is the run.
                run.start, run.end, run.samples, run.events = record, None, [], []
            elif kind == "sample":
                run.samples.append(record)
            elif kind == "event":
                run.events.append(record)
            elif kind == "job_end":
                run.end = record
    run.samples.sort(key=lambda s: (s.get("node", 0), s["t"]))
    run.events.sort(key=lambda e: e.get("t", 0))
    return run


# --- formatting ----------------------------------------------------------------------------

def fmt_number(value, digits=1):
    if value is None:
        return "–"
    if isinstance(value, int):
        return f"{value:,}".replace(",", " ")
    if not math.isfinite(value):
        return "–"
    return f"{value:.{digits}f}"


def fmt_bytes(n):
    n = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def fmt_seconds(s):
    if s is None:
        return "–"
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    return f"{s:.2f} s"


def pct(fraction):
    return f"{round(fraction * 100):d}%"


@dataclass
class Figure:
    key: str        # the job_end key it comes from
    label: str
    value: object   # the end record's value, unchanged
    text: str       # how the report prints it


def headline(run):
    """The headline figures, each straight from the job_end record (empty if there is none)."""
    e = run.end
    if not e:
        return []
    return [
        Figure("status", "status", e["status"], e["status"]),
        Figure("matrices", "matrices written", e["matrices"],
               f"{fmt_number(e['matrices'])} of {fmt_number(e.get('expected', e['matrices']))}"),
        Figure("seconds", "data-flow time", e["seconds"], f"{fmt_number(e['seconds'], 2)} s"),
        Figure("mb_per_s_in", "throughput in", e["mb_per_s_in"], f"{fmt_number(e['mb_per_s_in'])} MB/s"),
        Figure("mb_per_s_out", "throughput out", e["mb_per_s_out"], f"{fmt_number(e['mb_per_s_out'])} MB/s"),
        Figure("matrices_per_s", "matrices per second", e["matrices_per_s"], fmt_number(e["matrices_per_s"])),
        Figure("ratio", "compression ratio", e["ratio"], f"{fmt_number(e['ratio'], 2)}"),
        Figure("raw_bytes", "data in", e["raw_bytes"], fmt_bytes(e["raw_bytes"])),
        Figure("compressed_bytes", "data stored", e["compressed_bytes"], fmt_bytes(e["compressed_bytes"])),
        Figure("wall_seconds", "wall time (with setup)", e["wall_seconds"], f"{fmt_number(e['wall_seconds'], 2)} s"),
    ]


def verdict(run):
    """The bottleneck verdict: the job_end record's, else the last sample's (provisional)."""
    if run.end and "bottleneck" in run.end:
        return dict(run.end["bottleneck"], provisional=False)
    # A killed job's last samples may come after it stopped moving (the launcher tearing it
    # down): take the verdict at the last sample that showed progress.
    samples = [s for s in run.node_samples(0) if "bottleneck" in s]
    if samples:
        chosen = next(s for s in samples if s["written"] == samples[-1]["written"])
        return dict(chosen["bottleneck"], provisional=True, t=chosen["t"])
    return {"stage": "none", "sentence": "The log has no sample yet.", "suggestion": "", "evidence": {},
            "provisional": True}


def progress(run, window_s=10.0):
    """Matrices written so far and the job's total, with the recent rate and the ETA:
    {"written", "expected", "t", "rate", "eta_s", "final"}; None before the first sample. From
    job_end when there is one, else the sum of every node's last sample (each node counts its own
    writers'; `expected` is the job's total). `rate` is matrices/s over the last `window_s`
    seconds of samples; `eta_s` is None when nothing moved in that window."""
    e = run.end
    if e:
        return {"written": e["matrices"], "expected": e.get("expected", e["matrices"]), "t": e.get("seconds"),
                "rate": e.get("matrices_per_s"), "eta_s": 0.0, "final": True}
    per_node = {n: run.node_samples(n) for n in run.nodes}
    per_node = {n: s for n, s in per_node.items() if s}
    if not per_node:
        return None
    t = max(s[-1]["t"] for s in per_node.values())
    written = sum(s[-1].get("written", 0) for s in per_node.values())
    expected = max(s[-1].get("expected", 0) for s in per_node.values())

    def written_at(when):  # every node's count at its last sample at or before `when`
        return sum(next((x.get("written", 0) for x in reversed(s) if x["t"] <= when), 0)
                   for s in per_node.values())

    since = max(0.0, t - window_s)
    moved = written - written_at(since)
    rate = moved / (t - since) if t > since else None
    eta = (expected - written) / rate if rate else None
    return {"written": written, "expected": expected, "t": t, "rate": rate,
            "eta_s": eta if written < expected else 0.0, "final": False}


def throughput(series):
    """MB/s in (raw bytes the compressors took) and out (bytes the writers wrote) per sample
    interval, every node's ranks summed: (interval end times, in, out)."""
    return (series.t[1:], series.rate("bytes_in", {"compressor"}) / 1e6,
            series.rate("bytes_out", {"writer"}) / 1e6)


def queue_series(samples):
    """One node's queues and slots over time: {"t", "ready" (matrices waiting for a compressor),
    "inbox" (waiting for a writer), "raw", "compressed" (share of the producers' and the
    compressors' slots in use)}, arrays (nan where a sample lacks the field)."""
    t, ready = node_metric(samples, lambda s: sum(s["queues"]["ready"]))
    _, inbox = node_metric(samples, lambda s: sum(s["queues"]["writer_inbox"]))
    _, raw = node_metric(samples, lambda s: s["slots"]["raw_in_use"] / max(s["slots"]["raw_total"], 1))
    _, comp = node_metric(samples, lambda s: s["slots"]["compressed_in_use"] / max(s["slots"]["compressed_total"], 1))
    return {"t": t, "ready": ready, "inbox": inbox, "raw": raw, "compressed": comp}


def node_shares(run):
    """Each node's matrices: job_end's `nodes` (final, with host, ranks, bytes, shards, blocks)
    when the job ended, else every node's last sample ({"node", "matrices"}, final False).
    Shares are of the matrices written so far."""
    ended = (run.end or {}).get("nodes")
    if ended:
        rows = [dict(n) for n in ended]
        final = True
    else:
        rows = [{"node": n, "matrices": (run.node_samples(n) or [{}])[-1].get("written", 0)} for n in run.nodes]
        final = False
    total = sum(r["matrices"] for r in rows) or 1
    for r in rows:
        r["share"] = r["matrices"] / total
        r["final"] = final
    return rows


def stage_rows(use):
    """The stages a utilisation record has, in data-flow order (with "transform" when present)."""
    return TRANSFORM_STAGES if "transform" in use else STAGES


def transform_totals(run):
    """The transform's share of the compressors' time and the values its casts clamped, from
    job_end (else node 0's last sample): {"busy", "saturated", "ranks", "provisional"}, or None
    for a job without a transform or reductions."""
    use = stage_use(run)
    if "transform" not in use:
        return None
    return dict(use["transform"], provisional=not (run.end and "stages" in run.end))


def operands(run):
    """The job_start record's operands (a list; empty without)."""
    return (run.start or {}).get("operands") or []


def stage_use(run):
    """Per-stage fractions of rank-seconds: the job_end record's, else node 0's last sample's."""
    if run.end and "stages" in run.end:
        return run.end["stages"]
    samples = run.node_samples(0)
    return samples[-1].get("stages", {}) if samples else {}


# --- time series on a common grid ----------------------------------------------------------

COUNTERS = ("matrices", "bytes_in", "bytes_out", "busy_s", "wait_input_s", "wait_slot_s", "wait_disk_s", "cpu_s")


@dataclass
class Series:
    t: np.ndarray                    # sample times of node 0 (s since start), starting at 0
    ranks: list                      # [(rank, role, node)] in plan order
    counters: dict                   # name -> array [rank, time] of cumulative values
    rss: np.ndarray                  # [rank, time] bytes (nan where unknown)
    node_t: dict                     # node -> its own sample times
    node_samples: dict               # node -> its samples

    def rate(self, name, roles):
        """Per-interval rate of a counter summed over ranks with one of `roles` (len(t) - 1)."""
        rows = [i for i, (_, role, _) in enumerate(self.ranks) if role in roles]
        if not rows or len(self.t) < 2:
            return np.zeros(max(len(self.t) - 1, 0))
        total = self.counters[name][rows].sum(axis=0)
        return np.diff(total) / np.maximum(np.diff(self.t), 1e-9)

    def utilisation(self):
        """[rank, interval] active fraction (busy + disk) per interval, clipped to 0..1."""
        if len(self.t) < 2:
            return np.zeros((len(self.ranks), 0))
        active = self.counters["busy_s"] + self.counters["wait_disk_s"]
        return np.clip(np.diff(active, axis=1) / np.maximum(np.diff(self.t), 1e-9), 0, 1)


def series(run):
    nodes = run.nodes
    by_node = {n: run.node_samples(n) for n in nodes}
    base = by_node.get(0) or next(iter(by_node.values()), [])
    t = np.array([0.0] + [s["t"] for s in base]) if base else np.zeros(1)
    ranks, counters, rss = [], {c: [] for c in COUNTERS}, []
    for node in nodes:
        samples = by_node[node]
        if not samples:
            continue
        ts = np.array([0.0] + [s["t"] for s in samples])
        for i, r in enumerate(samples[-1]["ranks"]):
            ranks.append((r["rank"], r["role"], node))
            for c in COUNTERS:
                values = [0.0] + [float(s["ranks"][i].get(c, np.nan)) if i < len(s["ranks"]) else np.nan
                                  for s in samples]
                values = np.array(values)
                if c == "cpu_s" and np.isnan(values[1:]).all():
                    values[:] = np.nan
                counters[c].append(np.interp(t, ts, np.nan_to_num(values, nan=0.0)))
            r_rss = [np.nan] + [float(s["ranks"][i].get("rss_bytes", np.nan)) if i < len(s["ranks"]) else np.nan
                                for s in samples]
            rss.append(np.interp(t, ts, np.nan_to_num(np.array(r_rss), nan=0.0)))
    shape = (len(ranks), len(t))
    return Series(t=t, ranks=ranks,
                  counters={c: (np.array(v) if v else np.zeros(shape)) for c, v in counters.items()},
                  rss=np.array(rss) if rss else np.zeros(shape),
                  node_t={n: np.array([s["t"] for s in by_node[n]]) for n in nodes},
                  node_samples=by_node)


def compression_series(samples):
    """One node's compression choices over time (samples' "compression"): {"t", "level" (the
    level it compressed at), "shuffled" (share of the interval's matrices stored shuffled, nan
    where none was compressed)}; None for logs without them."""
    samples = [s for s in samples if isinstance(s.get("compression"), dict)]
    if not samples:
        return None
    t, level = node_metric(samples, lambda s: s["compression"]["level"])
    _, done = node_metric(samples, lambda s: s["compression"]["matrices"])
    _, shuffled = node_metric(samples, lambda s: s["compression"]["shuffled"])
    d_done = np.diff(np.concatenate([[0.0], done]))
    d_shuffled = np.diff(np.concatenate([[0.0], shuffled]))
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(d_done > 0, d_shuffled / d_done, np.nan)
    return {"t": t, "level": level, "shuffled": share}


def compression_choices(run):
    """The job's compression choices from the end record's ranks: {"matrices", "shuffled",
    "shuffle_probes", "mean_level"}, or None (a log without them, or nothing compressed)."""
    ranks = (run.end or {}).get("ranks") or []
    total = {"matrices": 0, "shuffled": 0, "shuffle_probes": 0, "level_sum": 0}
    for r in ranks:
        for k in total:
            total[k] += (r.get("compression") or {}).get(k, 0)
    if not total["matrices"]:
        return None
    total["mean_level"] = total.pop("level_sum") / total["matrices"]
    return total


def node_metric(samples, getter):
    """Times and values of one per-sample metric (None values become nan)."""
    t, v = [], []
    for s in samples:
        try:
            value = getter(s)
        except (KeyError, IndexError, TypeError):
            value = None
        t.append(s["t"])
        v.append(np.nan if value is None else float(value))
    return np.array(t), np.array(v)


# --- comparison ----------------------------------------------------------------------------

def compare_row(run):
    """One run's line in a comparison: from job_end, or '–' where it did not finish."""
    e = run.end or {}
    cfg = (run.start or {}).get("config", {})
    node0 = ((run.start or {}).get("plan") or {}).get("node0") or {}
    layout = node0.get("layout", node0)
    split = "/".join(str(layout.get(k, "?")) for k in ("producers", "compressors", "writers"))
    use = e.get("stages", {})
    v = verdict(run)
    row = {
        "run": run.name,
        "log": run.path,
        "status": run.status,
        "ranks": (run.start or {}).get("world_size"),
        "split": split,
        "level": cfg.get("compression", {}).get("level"),
        "shuffle": cfg.get("compression", {}).get("shuffle"),
        "matrices": e.get("matrices"),
        "seconds": e.get("seconds"),
        "mb_per_s_in": e.get("mb_per_s_in"),
        "mb_per_s_out": e.get("mb_per_s_out"),
        "matrices_per_s": e.get("matrices_per_s"),
        "ratio": e.get("ratio"),
        "p50_latency_s": (e.get("latency") or {}).get("p50_s"),
        "bottleneck": v.get("stage") + (" (provisional)" if v.get("provisional") else ""),
    }
    for stage in STAGES:
        row[f"{stage}_active"] = use.get(stage, {}).get("active")
    if "transform" in use and row["compressor_active"] is not None:
        # The compressor ranks' whole work: compressing and the transform they also run.
        row["compressor_active"] = min(1.0, row["compressor_active"] + use["transform"]["active"])
    return row


COMPARE_COLUMNS = [
    ("run", "run", str), ("status", "status", str), ("ranks", "ranks", str), ("split", "P/C/W", str),
    ("level", "level", str), ("shuffle", "shuffle", lambda v: "on" if v else "off"), ("matrices", "matrices", str),
    ("seconds", "seconds", lambda v: fmt_number(v, 2)), ("mb_per_s_in", "MB/s in", fmt_number),
    ("mb_per_s_out", "MB/s out", fmt_number), ("matrices_per_s", "matrices/s", fmt_number),
    ("ratio", "ratio", lambda v: fmt_number(v, 2)),
    ("producer_active", "producers busy", lambda v: "–" if v is None else pct(v)),
    ("compressor_active", "compressors busy", lambda v: "–" if v is None else pct(v)),
    ("writer_active", "writers busy", lambda v: "–" if v is None else pct(v)),
    ("p50_latency_s", "p50 latency", fmt_seconds), ("bottleneck", "bottleneck", str),
]


def compare_cells(row):
    return [("–" if row[key] is None else fmt(row[key])) for key, _, fmt in COMPARE_COLUMNS]


# --- schema --------------------------------------------------------------------------------

SCHEMA_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "metrics.schema.json")


def schema_errors(path):
    """Every record of a log (and its other nodes' logs) checked against metrics.schema.json:
    a list of "file:line: problem" strings, empty when the log is valid. Needs python3-jsonschema."""
    import jsonschema  # only this check needs it

    with open(SCHEMA_PATH) as f:
        validator = jsonschema.Draft7Validator(json.load(f))
    problems = []
    node_files = sorted(glob.glob(glob.escape(path) + ".node*"))
    for file in [path] + node_files:
        with open(file, encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as e:
                    problems.append(f"{file}:{number}: not JSON ({e})")
                    continue
                for error in validator.iter_errors(record):
                    # oneOf hides the reason: report the branch that matches the record's type.
                    reasons = [error]
                    if error.validator == "oneOf" and error.context:
                        wanted = f"#/definitions/{record.get('type')}"
                        branch = [e for e in error.context
                                  if error.validator_value[e.schema_path[0]].get("$ref") == wanted]
                        reasons = branch or error.context
                    for r in reasons:
                        where = "/".join(str(p) for p in r.absolute_path) or "(record)"
                        problems.append(f"{file}:{number}: {record.get('type')}: {where}: {r.message[:200]}")
    return problems
