#!/usr/bin/env python3
"""Plots the steady-state benchmark: ops/s per mode per client.

Reads the `results.json` that `cargo bench -p script-cache-tests --bench suite`
writes (to `<target>/script-cache-bench/`), writes a PNG:

    python3 -m venv .venv && .venv/bin/pip install matplotlib
    .venv/bin/python docs/plot_bench.py docs/bench-results.json docs/bench-steady.png

Bars: median ops/s over the rounds, whiskers min-max; the number over each
bar is its ratio to the hand-written EVALSHA of the same round (median). The
dashed line over each group is redis-benchmark's EVALSHA rate at the same
concurrency and pipeline depth (the server's own ceiling), when measured.
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

CLIENTS = [
    ("script_cache", "script-cache", "#d62728"),
    ("evalsha", "EVALSHA by hand (baseline)", "#7f7f7f"),
    ("redis_script", "redis-rs Script", "#1f77b4"),
    ("eval", "EVAL (source every call)", "#bcbd22"),
]
# Which redis-benchmark configuration stands for each mode.
# async64: one socket with up to 64 calls in flight is closest to -c 1 -P 64.
CEILING = {"sync": (1, 1), "async64": (1, 64), "pipeline32": (1, 32)}


def main(src, dst):
    with open(src) as f:
        data = json.load(f)
    steady = data.get("steady") or []
    server = data.get("server") or []
    meta = data.get("meta", {})
    modes = []
    for cell in steady:
        if cell["mode"] not in [m for m, _ in modes]:
            modes.append((cell["mode"], cell["mode_label"]))
    scripts = []
    for cell in steady:
        if cell["script"] not in scripts:
            scripts.append(cell["script"])

    fig, axes = plt.subplots(1, len(modes), figsize=(5.2 * len(modes), 5.2), squeeze=False)
    width = 0.8 / len(CLIENTS)
    for ax, (mode, label) in zip(axes[0], modes):
        top = 0
        for si, script in enumerate(scripts):
            cell = next(c for c in steady if c["mode"] == mode and c["script"] == script)
            by_id = {c["client"]: c for c in cell["clients"]}
            for ci, (cid, _, color) in enumerate(CLIENTS):
                c = by_id.get(cid)
                if c is None:
                    continue
                x = si + (ci - (len(CLIENTS) - 1) / 2) * width
                med = c["ops_per_sec_median"] / 1000
                lo = med - c["ops_per_sec_min"] / 1000
                hi = c["ops_per_sec_max"] / 1000 - med
                ax.bar(x, med, width, color=color, yerr=[[lo], [hi]], capsize=2,
                       error_kw={"elinewidth": 0.8})
                text = "1" if cid == "evalsha" else f'{c["ratio_median"]:.2f}'
                ax.text(x, med + hi + 4, text, ha="center", va="bottom", fontsize=7,
                        rotation=90, weight="bold" if cid == "script_cache" else None)
                top = max(top, med + hi)
            want = CEILING.get(mode)
            ceiling = next((r for r in server if r["mode"] == mode and r["script"] == script
                            and (r["clients"], r["pipeline"]) == want), None)
            if ceiling:
                y = ceiling["rps_median"] / 1000
                ax.hlines(y, si - 0.45, si + 0.45, colors="black", linestyles="dashed",
                          linewidth=1)
                if si == len(scripts) - 1:
                    ax.text(si + 0.47, y, f"redis-benchmark\n-c {want[0]} -P {want[1]}",
                            fontsize=6, va="center", ha="left")
                top = max(top, y)
        ax.set_title(label, fontsize=10)
        ax.set_xticks(range(len(scripts)))
        ax.set_xticklabels([s + (" (4 KB)" if s.endswith("4k") else " (1-key INCR)")
                            for s in scripts])
        ax.set_xlim(-0.6, len(scripts) + 0.05)
        ax.set_ylim(0, top * 1.22)
        ax.set_ylabel("thousand calls per second")
        ax.grid(axis="y", alpha=0.3)
    handles = [plt.Rectangle((0, 0), 1, 1, color=color) for _, _, color in CLIENTS]
    fig.legend(handles, [name for _, name, _ in CLIENTS], loc="lower center",
               ncol=len(CLIENTS), fontsize=9, frameon=False)
    fig.suptitle(
        "Steady state, same server, same connection, interleaved rounds "
        "(numbers: ratio to EVALSHA by hand)\n"
        f'{meta.get("server", "").split(" sha=")[0]} · {meta.get("machine", "")} · '
        f'{meta.get("date", "")}',
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0.06, 1, 0.93))
    fig.savefig(dst, dpi=110)
    print(f"wrote {dst}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} results.json out.png")
    main(sys.argv[1], sys.argv[2])
