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
from bench.common import SECRET, free_port, wait_healthy  # noqa: E402

ROLES = [  # (substring of the command line, role), first match wins
    ("gcs_server", "gcs_server"),
    ("raylet", "raylet"),
    ("dashboard/agent.py", "dashboard agent"),
    ("runtime_env/agent/main.py", "runtime env agent"),
    ("dashboard/dashboard.py", "dashboard"),
    ("log_monitor.py", "log monitor"),
    ("autoscaler/_private/monitor.py", "autoscaler monitor"),
    ("ray::RegistryShard", "registry shard"),
    ("ray::JobStore", "job store"),
    ("ray::IDLE", "idle Ray worker"),
    ("ray::DashboardAgent", "dashboard agent"),
    ("ray::RuntimeEnvAgent", "runtime env agent"),
    ("ray::", "Ray worker (other)"),
    ("default_worker.py", "idle Ray worker"),
    ("hub.cli", "hub serve (ingress + driver)"),
]


def role_of_command(cmd: str) -> str:
    """The role (ROLES) of a process from its command line (Ray titles workers "ray::Class.method")."""
    return next((r for key, r in ROLES if key in cmd), "other")


def role(p: psutil.Process) -> str:
    try:
        cmd = " ".join(p.cmdline()) or p.name()
    except psutil.Error:
        return "gone"
    found = role_of_command(cmd)
    return f"other: {p.name()}" if found == "other" else found


def tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return [root]


def cpu(p: psutil.Process) -> float | None:
    try:
        t = p.cpu_times()
        return t.user + t.system
    except psutil.Error:
        return None


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
