#!/usr/bin/python3
"""Turns codec_bench's JSON output (--benchmark_out=FILE --benchmark_out_format=json) into
Markdown tables, one row per case, in the order the cases were registered. With repetitions it
uses the median aggregate; without, the single run.

  build-bench/bench/codec_bench --benchmark_repetitions=3 --benchmark_enable_random_interleaving=true \\
      --benchmark_report_aggregates_only=true --benchmark_out=codec.json --benchmark_out_format=json
  /usr/bin/python3 bench/codec_table.py codec.json
"""
import json
import sys


# Names: <stage>/[<kind>/]<dtype>/<shape>[/L<n>[/shuffle]] (older runs had no <dtype>: float64).
# Rows of one stage, shape, kind, level and shuffle setting sit together, one per dtype.
DTYPE_ORDER = ["float64", "float32", "int64", "int32", "int16", "int8", "uint64", "uint32", "uint16", "uint8"]


def order_key(name):
    stage_order = {"generate": 0, "stats": 1, "shuffle": 2, "zstd": 3, "compressor": 4}
    parts = name.split("/")
    kind_order = {"random": 0, "smooth": 1, "poisson": 2}
    shape = next((p for p in parts if "x" in p and p[0].isdigit()), "0x0")
    rows = int(shape.split("x")[0])
    level = next((int(p[1:]) for p in parts if p.startswith("L") and p[1:].isdigit()), 0)
    kind = next((kind_order[p] for p in parts if p in kind_order), -1)
    dtype = next((DTYPE_ORDER.index(p) for p in parts if p in DTYPE_ORDER), 0)
    return (stage_order.get(parts[0], 9), -rows, kind, level, "shuffle" in parts, dtype)


def main():
    with open(sys.argv[1]) as f:
        data = json.load(f)
    rows = {}
    for b in data["benchmarks"]:
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        name = b.get("run_name", b["name"])
        rows[name] = b
    ctx = data.get("context", {})
    print(f"codec_bench {ctx.get('date', '')}, {ctx.get('num_cpus', '?')} CPUs @ {ctx.get('mhz_per_cpu', '?')} MHz, "
          f"load average {ctx.get('load_avg', '?')}; median of repetitions, rates per CPU second\n")
    print("| case | CPU µs / matrix | matrices/s | MB/s (raw) | ratio |")
    print("|---|---:|---:|---:|---:|")
    for name in sorted(rows, key=order_key):
        b = rows[name]
        unit = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}[b.get("time_unit", "ns")]
        cpu_us = b["cpu_time"] * unit
        ratio = b.get("ratio")
        print(f"| {name} | {cpu_us:,.1f} | {b.get('items_per_second', 0):,.0f} | "
              f"{b.get('bytes_per_second', 0) / 1e6:,.0f} | {'' if ratio is None else f'{ratio:.2f}'} |")


if __name__ == "__main__":
    main()
