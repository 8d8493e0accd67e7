"""One PNG of the latest figures: reads the JSON every benchmark writes beside its Markdown in
bench/results/ and draws bench/results/benchmarks.png (a panel says so when its figures are missing).

    python bench/chart.py [FOLDER]     # default bench/results; e.g. bench/results/16-core
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import RESULTS  # noqa: E402

SERVERS = ("hub", "bare FastAPI", "python-socketio")
COLOURS = {"hub": "#1f77b4", "bare FastAPI": "#7f7f7f", "python-socketio": "#ff7f0e", "poll": "#d62728"}


def load(name: str, folder: Path) -> dict[str, Any] | None:
    path = folder / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def bars(ax: Any, labels: list[str], values: list[float], title: str, unit: str, target: float | None = None) -> None:
    ax.bar(labels, values, color=[COLOURS.get(label, "#1f77b4") for label in labels])
    for i, v in enumerate(values):
        ax.annotate(f"{v:,.0f}" if v >= 10 else f"{v:.2f}", (i, v), ha="center", va="bottom", fontsize=8)
    if target is not None:
        ax.axhline(target, color="green", linestyle="--", linewidth=1, label=f"target {target:g}")
        ax.legend(fontsize=7)
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(unit)
    ax.tick_params(axis="x", labelsize=8)


def missing(ax: Any, title: str) -> None:
    ax.set_title(title, fontsize=10)
    ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def fanout_panels(ax_rate: Any, ax_lat: Any, data: dict[str, Any] | None) -> None:
    if data is None:
        missing(ax_rate, "Fan-out throughput")
        missing(ax_lat, "Fan-out latency")
        return

    def of(offered: float | None) -> list[dict[str, Any]]:
        return [r for name in SERVERS for r in data["rows"] if r["name"] == name and r.get("offered") == offered]

    rows = of(None)  # saturation
    names = [r["name"] for r in rows]
    bars(ax_rate, names, [r["rate"] for r in rows], f"Fan-out, {data['clients']} clients", "messages/s delivered")
    rate = data.get("ratios", {}).get("p99_rate")  # latency at equal load where a paced run was made
    title = f"Fan-out latency at {rate:g} messages/s" if rate else "Fan-out latency, send to arrival"
    rows = of(rate) if rate else rows
    names = [r["name"] for r in rows]
    width = 0.38
    for k, q in enumerate(("p50", "p99")):
        xs = [i + (k - 0.5) * width for i in range(len(rows))]
        ax_lat.bar(xs, [r[q] or 0 for r in rows], width, label=q, color=["#9ecae1", "#3182bd"][k])
    ax_lat.set_xticks(range(len(rows)), names, fontsize=8)
    ax_lat.set_title(title, fontsize=10)
    ax_lat.set_ylabel("ms")
    ax_lat.legend(fontsize=7)


def latency_panels(ax_pct: Any, ax_steps: Any, data: dict[str, Any] | None) -> None:
    if data is None:
        missing(ax_pct, "End-to-end latency")
        missing(ax_steps, "p99 against load")
        return
    loads = [("light", data["light"])] + ([("heavy", data["heavy"])] if data.get("heavy") else [])
    width = 0.25
    for k, q in enumerate(("p50", "p95", "p99")):
        xs = [i + (k - 1) * width for i in range(len(loads))]
        ax_pct.bar(xs, [step[q] or 0 for _, step in loads], width, label=q, color=["#c6dbef", "#6baed6", "#08519c"][k])
    ax_pct.set_xticks(range(len(loads)), [f"{n}\n{s['jobs']} jobs x {s['rate']}/s" for n, s in loads], fontsize=8)
    for target in (10, 50):
        ax_pct.axhline(target, color="green", linestyle="--", linewidth=1)
    ax_pct.set_title("Ray task progress call to client (targets 10 / 50 ms)", fontsize=10)
    ax_pct.set_ylabel("ms")
    ax_pct.legend(fontsize=7)
    steps = data["steps"]
    rates = [s["updates_per_s"] for s in steps]
    for q, style in (("p50", "o-"), ("p99", "s-")):
        ax_steps.plot(rates, [s[q] for s in steps], style, label=q)
    ax_steps.axhline(data["p99_limit_ms"], color="red", linestyle="--", linewidth=1, label="p99 limit")
    ax_steps.set_xscale("log")
    ax_steps.set_yscale("log")
    ax_steps.set_xlabel("progress calls/s (all jobs)")
    ax_steps.set_ylabel("ms")
    ax_steps.set_title("End-to-end latency against load", fontsize=10)
    ax_steps.legend(fontsize=7)


def scale_panels(ax_rate: Any, ax_lat: Any, ax_off: Any, runs: list[dict[str, Any]]) -> None:
    """bench/scale.py: deliveries/s and latency against ingress processes, per load (saturation, paced)."""
    phases = [p for run in runs for p in run["phases"]]
    loads = sorted({p.get("offered") or 0.0 for p in phases})
    for load in loads:
        steps = [p for p in phases if (p.get("offered") or 0.0) == load]
        label = f"paced {load:g}/s each" if load else "saturation"
        ks = [p["ingresses"] for p in steps]
        ax_rate.plot(ks, [p["rate"] for p in steps], "o-", label=label)
        ax_rate.plot(ks, [steps[0]["rate"] * k for k in ks], ":", color="grey", linewidth=1)
        if load:
            ax_lat.plot(ks, [p["p50"] for p in steps], "o-", label=f"p50, {label}")
            ax_lat.plot(ks, [p["p99"] for p in steps], "s-", label=f"p99, {label}")
    per = runs[0]["per_ingress"]
    ax_rate.set_title(f"Delivery against ingress processes ({per:,} connections each; dotted: perfect)", fontsize=10)
    ax_rate.set_xlabel("ingress processes")
    ax_rate.set_ylabel("deliveries/s")
    ax_rate.legend(fontsize=7)
    ax_lat.set_title("Latency at scale, publish to arrival", fontsize=10)
    ax_lat.set_xlabel("ingress processes")
    ax_lat.set_ylabel("ms")
    ax_lat.legend(fontsize=7)
    ax_off.set_axis_off()


def draw(folder: Path = RESULTS) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scale = [d for d in (load("scale", folder), load("scale-paced", folder)) if d]
    fig, axes = plt.subplots(3 if scale else 2, 3, figsize=(15, 12.75 if scale else 8.5))
    if scale:
        scale_panels(axes[2][0], axes[2][1], axes[2][2], scale)
    fanout_panels(axes[0][0], axes[0][1], load("fanout", folder))
    latency_panels(axes[0][2], axes[1][0], load("latency", folder))
    polling = load("polling", folder)
    if polling:
        per = polling["cpu_ms_per_update"]
        bars(axes[1][1], ["stream", "poll"], [per["stream"], per["poll"]], "Delivery CPU per update", "CPU ms")
    else:
        missing(axes[1][1], "Delivery CPU per update")
    conns = load("connections", folder)
    if conns:
        rows = conns["rows"]
        title = f"Memory per idle connection ({conns['connections']:,})"
        bars(axes[1][2], [r["name"] for r in rows], [r["kib"] for r in rows], title, "KiB", target=48)
    else:
        missing(axes[1][2], "Memory per idle connection")
    stamps = sorted({d["measured"] for d in (load(n, folder) for n in ("fanout", "latency", "polling")) if d})
    fig.suptitle(f"hub benchmarks ({', '.join(stamps) or 'no results'})", fontsize=12)
    fig.tight_layout()
    out = folder / "benchmarks.png"
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


if __name__ == "__main__":
    print(draw(Path(sys.argv[1]) if len(sys.argv) > 1 else RESULTS))
