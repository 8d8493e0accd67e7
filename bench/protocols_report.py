"""bench/protocols.py's report: medians over the rounds, ratios against JSON in the same run, and
bench/results/protocols.{md,json} (bench.common.report)."""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from bench.common import report
from bench.protocol_clients import CELLS, LABELS


def baseline(cell: str) -> str:
    """The JSON cell a cell is compared with: the one with the same compression."""
    return "json+deflate" if cell.endswith("deflate") else "json"


def per_delivery(rows: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """{group's shape: {cell: figures per delivery, medians over the rounds}} of a list of windows."""
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        runs.setdefault((r["group"].split("|")[0], r["cell"]), []).append(r)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for (shape, cell), found in runs.items():

        def med(key: str, scale: float = 1.0, found: list[dict[str, Any]] = found) -> float:
            return scale * statistics.median(r[key] / max(1, r["envelopes"]) for r in found)

        out.setdefault(shape, {})[cell] = {
            "delivered": min(r["envelopes"] for r in found),
            "bytes": med("bytes"),
            "ingress_us": med("ingress_s", 1e6),
            "client_us": med("client_cpu_s", 1e6),
            "decode_us": med("decode_s", 1e6),
            "frames": med("frames"),
            "rounds": len(found),
        }
    return out


def ratios(table: dict[str, dict[str, dict[str, float]]]) -> dict[str, dict[str, dict[str, float]]]:
    """{shape: {cell: {figure: cell / JSON with the same compression}}} for bytes and CPU."""
    return {
        shape: {
            cell: {
                key: cells[cell][key] / cells[baseline(cell)][key]
                for key in ("bytes", "ingress_us", "client_us", "decode_us")
                if cells[baseline(cell)][key]
            }
            for cell in CELLS
            if cell in cells and baseline(cell) in cells
        }
        for shape, cells in table.items()
    }


def _rows(table: dict[str, dict[str, dict[str, float]]], expected: dict[str, int]) -> list[str]:
    r = ratios(table)
    lines = []
    for shape, cells in table.items():
        for cell in CELLS:
            f = cells[cell]
            x = r[shape][cell]
            lines.append(
                f"| {shape} | {LABELS[cell]} | {f['delivered']:,}/{expected[shape]:,} | {f['bytes']:,.1f} | "
                f"{x['bytes']:.2f} | {f['ingress_us']:.1f} | {x['ingress_us']:.2f} | {f['client_us']:.1f} | "
                f"{f['decode_us']:.1f} | {f['frames']:.2f} |"
            )
    return lines


HEAD = [
    "| shape | protocol | delivered (fewest in a round) | bytes on the wire / delivery | × JSON "
    "| ingress CPU µs / delivery | × JSON | client CPU µs / delivery | of it decoding | frames / delivery |",
    "|---|---|---|---|---|---|---|---|---|---|",
]


def write(result: dict[str, Any], out: Path) -> None:
    """The Markdown report and its figures (JSON) for protocols.measure's `result`."""
    p = result["plan"]
    fan, large = per_delivery(result["fanout"]), per_delivery(result["large"])
    fan_x, large_x = ratios(fan), ratios(large)
    http, micro = result["http"], result["micro"]
    sample = json.dumps(result["stream_sample"], separators=(",", ":"))
    n = p["conns"]
    fan_expected = {shape: n * p["messages"] for shape in fan}
    large_expected = {shape: p["large_conns"] * p["large_messages"] for shape in large}
    one, many = "one educator", f"{n} educators"
    lines = [
        f"# JSON or MessagePack ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, issue 17)",
        "",
        "Four cells on one hub, every connection open for the whole run, the cells measured in turn, "
        f"{p['rounds']} rounds in alternating order (ABCD DCBA ...); each figure is the median over the rounds. "
        "Bytes: read from the client's TCP socket (frame headers and payloads, compressed when deflate is on). "
        "Ingress CPU: the `hub serve` process's threads over the window, less what the idle ingress "
        f"spends in as long ({1e3 * result['idle_ingress_cpu_per_s']:.1f} ms a second, measured first). "
        "Client CPU: the client processes' "
        "(websockets' framing and inflating, and decoding: json.loads or msgpack.unpackb). "
        "× JSON: against JSON with the same compression.",
        "",
        f"## Fan-out: quiz_status progress ({len(sample)} bytes of `data` as JSON, e.g. `{sample}`)",
        "",
        f"{p['messages']} messages at {p['rate']} a second a cell, entering at the registry shards as a job "
        f"monitor's do; '{one}': {n} connections of one educator (one envelope a message, packed once); "
        f"'{many}': one connection each (an envelope, and a packing, per delivery).",
        "",
        *HEAD,
        *_rows(fan, fan_expected),
        "",
    ]
    for shape in fan:
        x = fan_x[shape]
        lines.append(
            f"- {shape}: MessagePack bytes **{x['msgpack']['bytes']:.2f} x** JSON, with deflate "
            f"**{x['msgpack+deflate']['bytes']:.2f} x**; ingress CPU {x['msgpack']['ingress_us']:.2f} x, with "
            f"deflate {x['msgpack+deflate']['ingress_us']:.2f} x; deflate itself: JSON bytes "
            f"{fan[shape]['json+deflate']['bytes'] / fan[shape]['json']['bytes']:.2f} x, ingress CPU "
            f"{fan[shape]['json+deflate']['ingress_us'] / fan[shape]['json']['ingress_us']:.2f} x"
        )
    lr = large["large"]
    lx = large_x["large"]
    lines += [
        "",
        f"## A 50-question quiz result ({http['json']['bytes']:,} bytes as JSON; a real quiz_generation job, "
        f"{result['job_s']:.0f} s)",
        "",
        "`GET /api/jobs/{id}/result` (the hub does not compress HTTP answers: the deflated size is zlib's, level 6, "
        f"computed here for reference; ingress CPU: median of {p['gets']} GETs each, alternating).",
        "",
        "| Accept | body bytes | × JSON | deflated (zlib, reference) | × JSON | ingress CPU µs / GET | "
        "render µs (in process) | client decode µs |",
        "|---|---|---|---|---|---|---|---|",
        *(
            f"| {media} | {http[k]['bytes']:,} | {http[k]['bytes'] / http['json']['bytes']:.2f} | "
            f"{http[k]['deflated_bytes']:,} | {http[k]['deflated_bytes'] / http['json']['deflated_bytes']:.2f} | "
            f"{http[k]['ingress_us_per_get']:.0f} | {micro['http'][k + '_us']:.0f} | {http[k]['decode_us']:.0f} |"
            for k, media in (("json", "application/json"), ("msgpack", "application/msgpack"))
        ),
        "",
        f"The same result in one WebSocket message (`analytics_update` `{{updates: {{quiz: result}}}}`, "
        f"{p['large_messages']} messages at {p['large_rate']} a second to one educator's {p['large_conns']} "
        "connections a cell):",
        "",
        *HEAD,
        *_rows(large, large_expected),
        "",
        f"- MessagePack bytes **{lx['msgpack']['bytes']:.2f} x** JSON, with deflate "
        f"**{lx['msgpack+deflate']['bytes']:.2f} x**; client decoding {lx['msgpack']['decode_us']:.2f} x; "
        f"ingress CPU {lx['msgpack']['ingress_us']:.2f} x, with deflate {lx['msgpack+deflate']['ingress_us']:.2f} x; "
        f"deflate itself: JSON bytes {lr['json+deflate']['bytes'] / lr['json']['bytes']:.2f} x",
        "",
        "## The encoding alone (in process, µs a delivery, median)",
        "",
        "Server: the first delivery of a message makes its envelope (and, for MessagePack, packs it) and frames it; "
        "each further connection of the same educator only frames (and compresses) the shared bytes. Client: "
        "inflating (zlib, no earlier context) and decoding one frame.",
        "",
        "| message | protocol | payload bytes | server: first delivery | server: each further connection | "
        "client: inflate | client: decode |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {what} | {LABELS[cell]} | {micro[key]['server'][cell]['payload_bytes']:,.0f} | "
            f"{micro[key]['server'][cell]['first_us']:.1f} | {micro[key]['server'][cell]['further_us']:.1f} | "
            f"{micro[key]['client'][cell]['inflate_us']:.1f} | {micro[key]['client'][cell]['decode_us']:.1f} |"
            for key, what in (("progress", "quiz_status progress"), ("large", "50-question result"))
            for cell in CELLS
        ),
        "",
        f"Run: {result['connections']} connections, {result['seconds']:.0f} s.",
        "",
    ]
    figures = {
        **result,
        "per_delivery": {"fanout": fan, "large": large},
        "ratios": {"fanout": fan_x, "large": large_x, "http_bytes": http["msgpack"]["bytes"] / http["json"]["bytes"]},
    }
    report(lines, out, figures)
