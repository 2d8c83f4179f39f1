"""A running job's metrics log, read as it grows: the live side of shmjob_metrics, for
analysis/dashboard.py (docs/dashboard.md).

- LogTail reads only the bytes appended to a file since its last call, in bounded chunks, and
  hands back complete lines; a line longer than `max_line` is skipped, never held whole, and a
  file is read no further than `max_bytes`.
- LiveRun is a shmjob_metrics.RunLog fed record by record, with bounded memory whatever the
  job's length: each sample keeps its per-role sums instead of one entry per rank, only the
  samples the verdict and the stage bars need keep theirs, old samples are thinned (counters
  are cumulative, so rates between the samples kept stay exact) and events are capped.
- job_view() turns a run into what the dashboard's job page shows (a JSON-able dict), with the
  same functions the report uses (shmjob_metrics: progress, throughput, queue_series,
  node_shares, stage_use, verdict, headline).

Debian's numpy only, like shmjob_metrics.
"""
import collections
import json
import math
import os
import stat

import numpy as np

import shmjob_metrics as sm

ROLES = ("producer", "compressor", "writer", "idle")
# Per-rank counters a sample keeps, summed per role (what shmjob_metrics.series uses).
ROLE_COUNTERS = sm.COUNTERS


class LogTail:
    """Incremental reader of one file that only grows (a metrics log).

    poll() reads from where the last call stopped, at most `budget` bytes, and returns the
    complete lines read. A file that shrank or was replaced (another inode: the job was run
    again with overwrite) starts over, with `reset` set in the result. `opener(path)` opens
    the file and returns a file descriptor (the dashboard's opener refuses anything outside
    its directories); it defaults to a plain read-only open.
    """

    def __init__(self, path, max_line=8 << 20, max_bytes=1 << 30, opener=None):
        self.path = path
        self.max_line = max_line
        self.max_bytes = max_bytes
        self.opener = opener or (lambda p: os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC))
        self.offset = 0          # bytes consumed so far
        self.bytes_read = 0      # bytes read in all, over every reset (reads only appended bytes: == offset)
        self.pending = bytearray()
        self.skipping = False    # inside a line longer than max_line: drop bytes until its end
        self.long_lines = 0      # lines skipped for their length
        self.identity = None     # (st_dev, st_ino) of the file being read
        self.size = 0            # the file's size at the last poll
        self.mtime = None
        self.capped = False      # stopped at max_bytes
        self.error = None

    def _reset(self):
        self.offset = 0
        self.pending = bytearray()
        self.skipping = False
        self.capped = False

    def poll(self, budget):
        """-> (lines, consumed bytes, reset, more): `more` when bytes are left to read."""
        try:
            fd = self.opener(self.path)
        except OSError as e:
            self.error = str(e)
            return [], 0, False, False
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                self.error = "not a regular file"
                return [], 0, False, False
            self.error = None
            reset = False
            identity = (st.st_dev, st.st_ino)
            if self.identity is not None and (identity != self.identity or st.st_size < self.offset):
                self._reset()
                reset = True
            self.identity = identity
            self.size = st.st_size
            self.mtime = st.st_mtime
            end = min(st.st_size, self.max_bytes)
            if st.st_size > self.max_bytes:
                self.capped = True
            want = max(0, min(budget, end - self.offset))
            data = os.pread(fd, want, self.offset) if want else b""
        finally:
            os.close(fd)
        self.offset += len(data)
        self.bytes_read += len(data)
        lines = self._split(data)
        return lines, len(data), reset, self.offset < end

    def _split(self, data):
        lines = []
        start = 0
        if self.skipping:
            newline = data.find(b"\n")
            if newline < 0:
                return lines
            self.skipping = False
            start = newline + 1
        last = data.rfind(b"\n", start)
        if last < 0:
            self.pending += data[start:]
        else:
            first = data.find(b"\n", start)
            head = bytes(self.pending) + data[start:first]
            self.pending = bytearray(data[last + 1:])
            body = [head] + (data[first + 1:last].split(b"\n") if last > first else [])
            for line in body:
                if len(line) > self.max_line:
                    self.long_lines += 1
                elif line.strip():
                    lines.append(line)
        if len(self.pending) > self.max_line:
            self.pending = bytearray()
            self.skipping = True
            self.long_lines += 1
        return lines


class LiveRun(sm.RunLog):
    """A RunLog built one record at a time, in bounded memory (see the module's docstring).
    The shmjob_metrics functions (series, progress, verdict, stage_use, node_shares, headline)
    work on it as on a loaded log."""

    def __init__(self, path, max_samples=1200, max_events=500):
        self.max_samples = max_samples
        self.max_events = max_events
        super().__init__(path=path)            # sets samples and events: by_node, events_* below
        self.records = 0
        self.runs = 0                          # job_start records seen (a resume appends one)

    # RunLog's fields, derived from the bounded stores
    @property
    def samples(self):
        return [s for n in sorted(self.by_node) for s in self.by_node[n]]

    @samples.setter
    def samples(self, value):  # RunLog.__init__ assigns []
        self.by_node = {}
        for s in value:
            self.by_node.setdefault(s.get("node", 0), []).append(s)

    @property
    def events(self):
        return sorted(self.events_head + list(self.events_tail), key=lambda e: e.get("t") or 0)

    @events.setter
    def events(self, value):
        self.events_head, self.events_tail = [], collections.deque(maxlen=self.max_events - self.max_events // 5)
        self.events_total = 0
        for e in value:
            self.add_event(e)

    def node_samples(self, node=0):
        return self.by_node.get(node, [])

    @property
    def nodes(self):
        return sorted(self.by_node) or [0]

    @property
    def last_t(self):
        return max((s[-1]["t"] for s in self.by_node.values() if s), default=0.0)

    def restart(self):
        self.start, self.end = None, None
        self.by_node = {}
        self.events = []
        self.bad_lines = []

    def add_line(self, line, node_file=False):
        try:
            record = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            if len(self.bad_lines) < 20:
                self.bad_lines.append((self.path, None, line[:80].decode("utf-8", "replace")))
            return False
        if not isinstance(record, dict):
            return False
        self.records += 1
        kind = record.get("type")
        try:
            if kind == "job_start" and not node_file:
                # A resumed job appends its run to node 0's log: the last run is the run.
                self.restart()
                self.start = record
                self.runs += 1
            elif kind == "sample" and isinstance(record.get("t"), (int, float)):
                self.add_sample(record)
            elif kind == "event":
                self.add_event(record)
            elif kind == "job_end" and not node_file:
                self.end = record
            else:
                return False
        except (KeyError, TypeError, ValueError, AttributeError):
            return False  # a record of the right type but the wrong shape: skipped
        return True

    def add_event(self, record):
        self.events_total += 1
        if isinstance(record.get("message"), str) and len(record["message"]) > 2000:
            record = dict(record, message=record["message"][:2000] + "…")
        if len(self.events_head) < self.max_events // 5:
            self.events_head.append(record)
        else:
            self.events_tail.append(record)

    def add_sample(self, s):
        node = s.get("node", 0)
        sums = {role: dict({c: 0.0 for c in ROLE_COUNTERS}, rank=-1, role=role) for role in ROLES}
        for r in s.get("ranks") or []:
            role = sums.get(r.get("role"))
            if role is None:
                continue
            for c in ROLE_COUNTERS:
                value = r.get(c)
                if isinstance(value, (int, float)):
                    role[c] += value
        compact = {k: s[k] for k in ("t", "node", "written", "expected", "queues", "slots", "latency",
                                     "stages", "bottleneck") if k in s}
        compact["ranks"] = list(sums.values())
        samples = self.by_node.setdefault(node, [])
        if samples:
            previous = samples[-1]
            previous.pop("stages", None)  # only the last sample's stages are shown
            if "bottleneck" in compact:
                if compact.get("written") == previous.get("written") and self._verdict_holder(samples):
                    # The verdict is that of the first sample with the last count: keep that one's.
                    compact.pop("bottleneck")
                else:
                    for old in samples:
                        old.pop("bottleneck", None)
        samples.append(compact)
        if len(samples) > self.max_samples:
            self._thin(samples)

    @staticmethod
    def _verdict_holder(samples):
        return any("bottleneck" in s for s in reversed(samples))

    @staticmethod
    def _thin(samples):
        """Every other sample of the older half goes (the first, and any the verdict or the
        stage bars use, stay): the recent past keeps its resolution."""
        half = len(samples) // 2
        kept = [s for i, s in enumerate(samples[:half]) if i == 0 or i % 2 == 0 or "bottleneck" in s or "stages" in s]
        samples[:half] = kept

    def compact_finished(self):
        """Once job_end is in, the samples are only needed for the time series of the final
        view: drop all but a display's worth."""
        for node, samples in self.by_node.items():
            if len(samples) > DISPLAY_POINTS:
                self.by_node[node] = _decimate(samples, DISPLAY_POINTS)


# --- the job page's content -----------------------------------------------------------------

DISPLAY_POINTS = 300  # points per time series sent to a browser


def _decimate(samples, n):
    """n samples evenly spread over the list, the first and the last included."""
    if len(samples) <= n:
        return list(samples)
    index = np.unique(np.linspace(0, len(samples) - 1, n).round().astype(int))
    return [samples[i] for i in index]


def _num(value, digits=4):
    """A JSON number with `digits` significant digits, None for nan/inf/None."""
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value):
        return None
    if value == 0:
        return 0
    return float(f"{value:.{digits}g}")


def _nums(values, digits=4):
    return [_num(v, digits) for v in values]


def live_status(run, idle_s, stall_after):
    """(status, note): complete/interrupted/failed from job_end; else running, or stalled when
    no record came for `stall_after` s or the watchdog's last stall warning has not cleared
    (failed when the log stopped after an error event), or starting before the first sample."""
    if run.end:
        status = run.end.get("status", "failed")
        note = ""
        if status != "complete":
            note = f"{run.end.get('matrices', '?')} of {run.end.get('expected', '?')} matrices written"
        return status, note
    events = run.events
    stalls = [e for e in events if e.get("kind") == "stall"]
    if idle_s > stall_after:
        if any(e.get("level") == "error" for e in events):
            return "failed", f"an error, then no record for over {stall_after:.0f} s (no job_end)"
        return "stalled", f"no new record for over {stall_after:.0f} s: the job hangs or was killed"
    if stalls and stalls[-1].get("level") == "warning":
        return "stalled", stalls[-1].get("message", "the watchdog reports a stall")[:300]
    if not run.by_node:
        return "starting", "no sample yet"
    return "running", ""


def summary(run, status, note):
    """One job's line in the list."""
    start = run.start or {}
    p = sm.progress(run) or {}
    written, expected = p.get("written"), p.get("expected")
    if expected is None:
        expected = ((start.get("config") or {}).get("matrices") or {}).get("count")
    mb_in = mb_out = None
    if run.end:
        mb_in, mb_out = run.end.get("mb_per_s_in"), run.end.get("mb_per_s_out")
    elif run.by_node:
        mb_in, mb_out = _recent_rates(run)
    return {
        "name": run.name, "status": status, "note": note, "written": written, "expected": expected,
        "fraction": _num(written / expected) if written is not None and expected else None,
        "mb_per_s_in": _num(mb_in), "mb_per_s_out": _num(mb_out),
        "matrices_per_s": _num(p.get("rate")), "eta_s": _num(None if run.end else p.get("eta_s")),
        "t": _num(p.get("t") if p else None), "started": start.get("time"), "epoch_s": start.get("epoch_s"),
        "world_size": start.get("world_size"), "hosts": (start.get("hosts") or [])[:8],
    }


def _recent_rates(run, window_s=10.0):
    """MB/s in and out over the last `window_s` s of samples (every node's, summed)."""
    mb_in = mb_out = 0.0
    for samples in run.by_node.values():
        if len(samples) < 2:
            continue
        last = samples[-1]
        first = next((s for s in samples if s["t"] >= last["t"] - window_s), samples[0])
        if first is last:
            first = samples[-2]
        dt = max(last["t"] - first["t"], 1e-9)

        def total(s, role, counter):
            return next((r[counter] for r in s["ranks"] if r["role"] == role), 0.0)

        mb_in += (total(last, "compressor", "bytes_in") - total(first, "compressor", "bytes_in")) / dt / 1e6
        mb_out += (total(last, "writer", "bytes_out") - total(first, "writer", "bytes_out")) / dt / 1e6
    return mb_in, mb_out


def _section(build, *args):
    """A section of the view; a log too odd for it gives {"error": ...} instead of no page."""
    try:
        return build(*args)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, ZeroDivisionError) as e:
        return {"error": f"{type(e).__name__}: {e}"[:200]}


def _throughput(run):
    display = sm.RunLog(path=run.path, start=run.start, end=run.end)
    display.samples = [s for n in run.nodes for s in _decimate(run.node_samples(n), DISPLAY_POINTS)]
    if not display.samples:
        return {"t": [], "in": [], "out": []}
    series = sm.series(display)
    t, mb_in, mb_out = sm.throughput(series)
    out = {"t": _nums(t), "in": _nums(mb_in), "out": _nums(mb_out)}
    if run.end:
        out["avg_in"], out["avg_out"] = _num(run.end.get("mb_per_s_in")), _num(run.end.get("mb_per_s_out"))
    elif len(series.t) > 1 and series.t[-1] > 0:
        out["avg_in"] = _num(float(np.sum(mb_in * np.diff(series.t))) / series.t[-1])
        out["avg_out"] = _num(float(np.sum(mb_out * np.diff(series.t))) / series.t[-1])
    return out


def _stages(run):
    use = sm.stage_use(run)
    rows = []
    for stage in (sm.stage_rows(use) if use else ()):
        u = use.get(stage) or {}
        parts = [{"part": part, "label": sm.TIME_PART_LABELS[part], "colour": sm.PART_COLOURS[part],
                  "value": _num(u.get(part, 0.0), 3)} for part in sm.TIME_PARTS]
        label = (f"transform ({u.get('ranks', '?')} compressors)" if stage == "transform"
                 else f"{sm.PLURAL[stage]} ({u.get('ranks', '?')})")
        rows.append({"stage": stage, "label": label, "active": _num(u.get("active"), 3), "parts": parts})
    return {"rows": rows, "final": bool(run.end and "stages" in run.end),
            "other_colour": sm.PART_COLOURS["other"], "other_label": sm.TIME_PART_LABELS["other"]}


def _queues(run):
    samples = _decimate(run.node_samples(0) or run.node_samples(run.nodes[0]), DISPLAY_POINTS)
    if not samples:
        return {"t": []}
    q = sm.queue_series(samples)
    return {k: _nums(v) for k, v in q.items()}


def _nodes(run):
    hosts = {}
    for r in ((run.start or {}).get("plan") or {}).get("ranks") or []:
        hosts.setdefault(r.get("node"), r.get("host"))
    rows = []
    for n in sm.node_shares(run):
        row = {"node": n["node"], "host": n.get("host") or hosts.get(n["node"]), "matrices": n["matrices"],
               "share": _num(n["share"], 3), "final": n["final"]}
        samples = run.node_samples(n["node"])
        if samples and not n["final"]:
            last = samples[-1]
            row["ready"] = sum((last.get("queues") or {}).get("ready") or [])
            row["inbox"] = sum((last.get("queues") or {}).get("writer_inbox") or [])
        for key in ("ranks", "raw_bytes", "shards", "blocks"):
            if key in n:
                row[key] = n[key]
        rows.append(row)
    return rows


def _verdict(run):
    v = sm.verdict(run)
    return {"stage": v.get("stage", "none"), "sentence": v.get("sentence", ""),
            "suggestion": v.get("suggestion", ""), "provisional": bool(v.get("provisional")),
            "t": _num(v.get("t")), "plural": sm.PLURAL.get(v.get("stage", ""), v.get("stage", ""))}


def _latency(run):
    samples = run.node_samples(0)
    last = next((s for s in reversed(samples) if (s.get("latency") or {}).get("n")), None)
    if run.end and run.end.get("latency"):
        lat = run.end["latency"]
        return {"p50_s": _num(lat.get("p50_s")), "p90_s": _num(lat.get("p90_s")), "p99_s": _num(lat.get("p99_s")),
                "final": True}
    if last:
        lat = last["latency"]
        return {"p50_s": _num(lat.get("p50_s")), "p90_s": _num(lat.get("p90_s")), "p99_s": _num(lat.get("p99_s")),
                "final": False, "t": _num(last["t"])}
    return {}


def _facts(run):
    s = run.start or {}
    cfg = s.get("config") or {}
    m = cfg.get("matrices") or {}
    layout = ((s.get("plan") or {}).get("node0") or {}).get("layout") or {}
    launch = s.get("launch") or {}
    comp = cfg.get("compression") or {}
    data = (f"{m.get('count')} × {m.get('rows')}×{m.get('cols')} {m.get('dtype')} {m.get('kind')}" if m
            else "HDF5 input: " + ", ".join(str(f) for f in ((cfg.get("input") or {}).get("files") or [])[:5]))
    rows = [
        ("started", s.get("time", "?")),
        ("data", data),
        ("compression", f"zstd level {comp.get('level')}, shuffle {'on' if comp.get('shuffle') else 'off'}"),
        ("ranks", f"{s.get('world_size', '?')} on {len(s.get('hosts') or [])} host(s): "
                  + ", ".join((s.get("hosts") or [])[:8])),
        ("stages per node", f"{layout.get('producers', '?')} producers, {layout.get('compressors', '?')} "
                            f"compressors, {layout.get('writers', '?')} writers, {layout.get('idle', '?')} idle"),
        ("launched by", str(launch.get("launcher", "?")) + (f", Slurm job {launch['slurm_job_id']}"
                                                            if launch.get("slurm_job_id") else "")),
        ("metrics interval", f"{(cfg.get('metrics') or {}).get('interval_s', '?')} s"),
    ]
    if cfg.get("testing"):
        rows.append(("testing", f"test-only settings in use: {json.dumps(cfg['testing'])[:300]}"))
    return [[k, str(v)[:500]] for k, v in rows]


def _events(run, limit=200):
    out = []
    for e in run.events[-limit:]:
        out.append({"t": _num(e.get("t")), "level": str(e.get("level", "")), "kind": str(e.get("kind", "")),
                    "rank": e.get("rank") if isinstance(e.get("rank"), int) else None,
                    "node": e.get("node") if isinstance(e.get("node"), int) else None,
                    "message": str(e.get("message", ""))[:2000]})
    return out


def job_view(run, status, note):
    """Everything the job page shows, as a JSON-able dict (docs/dashboard.md, "The job page")."""
    return {
        "summary": summary(run, status, note),
        "headline": [{"key": f.key, "label": f.label, "text": f.text} for f in sm.headline(run)] if run.end else [],
        "verdict": _section(_verdict, run),
        "throughput": _section(_throughput, run),
        "stages": _section(_stages, run),
        "queues": _section(_queues, run),
        "nodes": _section(_nodes, run),
        "latency": _section(_latency, run),
        "events": _section(_events, run),
        "events_total": run.events_total,
        "facts": _section(_facts, run),
        "bad_lines": len(run.bad_lines),
        "samples": sum(len(s) for s in run.by_node.values()),
        "nodes_count": len(run.by_node),
    }
