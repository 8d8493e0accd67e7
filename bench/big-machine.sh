#!/usr/bin/env bash
# The benchmarks that need a machine with many cores (16 here), each in its own processes:
# - at scale (issue 8): 4 ingress processes x 12,500 connections = 50,000, and delivery scaling from
#   1 to 4 ingress processes (bench/scale.py);
# - fan-out against bare FastAPI and python-socketio with 8 client processes (bench/fanout.py), so
#   the clients are not what limits the servers;
# - end-to-end latency at light load on cores to spare (bench/latency.py --quick).
# Reports go to OUT_DIR (Markdown + JSON; the servers' output in servers.log).
#
#   bench/big-machine.sh OUT_DIR [--smoke]      # --smoke: tiny sizes, to try the script anywhere
#   ONLY="scale fanout" bench/big-machine.sh OUT_DIR   # some of them
set -u
out=${1:?usage: bench/big-machine.sh OUT_DIR [--smoke]}
mkdir -p "$out"
cd "$(dirname "$0")/.."
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
export PYTHONUNBUFFERED=1 BENCH_LOG="$out/servers.log"
PY=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}  # make install-bench's, else python3
echo "$(nproc) cores, $(ulimit -n) open files, $($PY --version)"
if [ "${2:-}" = "--smoke" ]; then
    scale=(--ingresses 2 --per-ingress 300 --client-procs 2 --messages 10 --paced 2)
    fan=(--clients 100 --messages 50 --client-procs 2)
else
    scale=(--ingresses 4 --per-ingress 12500 --client-procs 8 --messages 20 --paced 1)
    fan=(--clients 1000 --messages 500 --client-procs 8)
fi
status=0
for workload in ${ONLY:-scale fanout latency}; do
    case $workload in
        scale) timeout 300 $PY bench/scale.py "${scale[@]}" --out "$out/scale.md" || status=1 ;;
        fanout) timeout 200 $PY bench/fanout.py "${fan[@]}" --out "$out/fanout.md" || status=1 ;;
        latency) timeout 100 $PY bench/latency.py --quick --out "$out/latency.md" || status=1 ;;
    esac
done
exit $status
