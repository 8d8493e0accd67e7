"""What an idle hub costs (issue 15): `hub serve` (its own local Ray, no clients, no jobs), after
`--settle` seconds of start-up, measured over `--seconds`: each process's CPU (utime + stime
deltas from psutil) and unique memory (USS, psutil.Process.memory_full_info), by role. The processes
are the hub process and its descendants (Ray's daemons and workers). Extra environment for the hub
(HUB_SHARDS=2, RAY_... flags) is passed as NAME=VALUE arguments; the hub is stopped with SIGTERM.

    python bench/idle.py                              # as `make serve`: defaults
    python bench/idle.py HUB_SHARDS=1 --label "1 shard"
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# The roles (bench.common.ROLES) and the process readers are shared with bench/polling.py.
from bench.common import (  # noqa: E402
    SECRET,
    free_port,
    role_of_command,  # noqa: F401 (bench.idle.role_of_command, as tests/unit/test_bench_probes.py reads it)
    wait_healthy,
)
from bench.common import process_cpu as cpu  # noqa: E402
from bench.common import process_role as role  # noqa: E402
from bench.common import process_tree as tree  # noqa: E402


def measure(env: dict[str, str], settle: float, seconds: float, args: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="hub-idle-") as data:
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "serve", "--port", str(port), "--data-dir", data, *args],
            env={**os.environ, "HUB_SECRET": SECRET, "RAY_ADDRESS": "local"} | env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_healthy(f"http://127.0.0.1:{port}", proc)
            time.sleep(settle)
            root = psutil.Process(proc.pid)
            before = {p.pid: (p, cpu(p)) for p in tree(root)}
            start = time.monotonic()
            time.sleep(seconds)
            wall = time.monotonic() - start
            rows: dict[str, dict[str, float]] = {}
            for p in tree(root):
                now = cpu(p)
                if now is None:
                    continue
                was = before.get(p.pid, (p, 0.0))[1] or 0.0  # started during the window: all its CPU
                try:
                    uss = p.memory_full_info().uss
                except psutil.Error:
                    continue
                row = rows.setdefault(role(p), {"n": 0, "cpu": 0.0, "uss": 0.0})
                row["n"] += 1
                row["cpu"] += 100 * (now - was) / wall
                row["uss"] += uss / 2**20
            gone = [pid for pid in before if not psutil.pid_exists(pid)]
            procs = []
            for p in tree(root):
                try:
                    procs.append(f"{p.pid} {role(p)}: {' '.join(p.cmdline())[:160]}")
                except psutil.Error:
                    pass
            return {"rows": rows, "wall": wall, "gone_during": len(gone), "procs": procs}
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def table(label: str, result: dict[str, Any]) -> list[str]:
    rows = result["rows"]
    lines = [
        f"**{label}** ({result['wall']:.0f} s window)",
        "",
        "| process (role) | count | CPU % of a core | USS MiB |",
        "|---|---|---|---|",
    ]
    for name, r in sorted(rows.items(), key=lambda kv: -kv[1]["cpu"]):
        lines.append(f"| {name} | {r['n']:.0f} | {r['cpu']:.2f} | {r['uss']:.0f} |")
    n = sum(r["n"] for r in rows.values())
    c = sum(r["cpu"] for r in rows.values())
    u = sum(r["uss"] for r in rows.values())
    lines.append(f"| **total** | **{n:.0f}** | **{c:.2f}** | **{u:.0f}** |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("env", nargs="*", help="NAME=VALUE for the hub's environment")
    parser.add_argument("--label", default="defaults")
    parser.add_argument("--settle", type=float, default=30.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--hub-arg", action="append", default=[], help="an extra `hub serve` argument")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--list", action="store_true", help="print each process's command line")
    args = parser.parse_args()
    env = dict(e.split("=", 1) for e in args.env)
    result = measure(env, args.settle, args.seconds, args.hub_arg)
    text = "\n".join([*table(args.label + (f" ({' '.join(args.env)})" if args.env else ""), result), ""])
    print(text)
    if args.list:
        print("\n".join(result["procs"]))
    if args.out:
        with args.out.open("a") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
