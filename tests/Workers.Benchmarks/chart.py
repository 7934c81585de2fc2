#!/usr/bin/env python3
"""Draws docs/benchmarks.png from the figures workers-bench leaves in docs/benchmarks.md.

usage: chart.py BENCHMARKS_MD OUTPUT_PNG

Each generated block of the document carries a line
    <!-- workers-bench:WORKLOAD:figures {"key": [min, median, max], ...} -->
Bars are medians, whiskers min..max over the rounds. Exit code 3: matplotlib is missing.
"""
import json
import re
import sys

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit(3)

FIGURES = re.compile(r"<!-- workers-bench:([\w-]+):figures (\{.*\}) -->")

# (workload, key, label): what each panel shows, in order; missing ones are left out.
THROUGHPUT = [
    ("throughput", "runs_per_s", "W1 fleet\n(RabbitMQ + PG)"),
    ("embedded", "embedded_runs_per_s", "W1 embedded\n(workers dev)"),
    ("throughput", "floor_mt_runs_per_s", "floor:\nMassTransit"),
    ("throughput", "floor_physical_runs_per_s", "floor: raw\nRabbitMQ.Client"),
    ("bullmq", "bull_w1_jobs_per_s", "peer:\nBullMQ W1"),
]
LATENCY = [
    ("latency", "w6_agent_p50_ms", "W6 agent\nstarted p50\n(half rate)"),
    ("latency", "w6_agent_p99_ms", "W6 agent\nstarted p99\n(half rate)"),
    ("throughput", "dispatch_p50_ms", "W1 start\np50\n(backlog)"),
    ("throughput", "dispatch_p99_ms", "W1 start\np99\n(backlog)"),
    ("cancel", "cancel_cancelled_p50_ms", "W4 cancel\np50"),
    ("cancel", "cancel_cancelled_p99_ms", "W4 cancel\np99"),
    ("bullmq", "bull_w1_wait_p50_ms", "BullMQ W1\nwait p50"),
    ("bullmq", "bull_w1_wait_p99_ms", "BullMQ W1\nwait p99"),
]


def pick(figures, wanted):
    rows = []
    for workload, key, label in wanted:
        value = figures.get(workload, {}).get(key)
        if value and all(v == v for v in value):  # skip NaN
            rows.append((label, value))
    return rows


def bars(axis, rows, title, unit, log=False):
    if not rows:
        axis.text(0.5, 0.5, "not measured yet", ha="center", va="center", transform=axis.transAxes)
        axis.set_title(title)
        axis.set_xticks([])
        axis.set_yticks([])
        return
    labels = [label for label, _ in rows]
    medians = [v[1] for _, v in rows]
    low = [v[1] - v[0] for _, v in rows]
    high = [v[2] - v[1] for _, v in rows]
    axis.bar(range(len(rows)), medians, yerr=[low, high], capsize=4, color="#4c72b0")
    for i, median in enumerate(medians):
        axis.annotate(f"{median:,.0f}" if median >= 10 else f"{median:.1f}", (i, median), ha="center", va="bottom",
                      xytext=(0, 3), textcoords="offset points", fontsize=8)
    axis.set_xticks(range(len(rows)), labels, fontsize=8)
    axis.set_ylabel(unit)
    axis.set_title(title)
    if log:
        axis.set_yscale("log")
    axis.grid(axis="y", alpha=0.3)


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as document:
        figures = {m.group(1): json.loads(m.group(2)) for m in FIGURES.finditer(document.read())}
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5.5))
    bars(left, pick(figures, THROUGHPUT), "Throughput (median, whiskers min-max; log scale)", "runs/s", log=True)
    bars(right, pick(figures, LATENCY), "Latency (median, whiskers min-max; log scale)", "ms", log=True)
    fig.suptitle("workers-bench on one shared 2-core machine (docs/benchmarks.md has the conditions)")
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=100)
    return 0


if __name__ == "__main__":
    sys.exit(main())
