"""`hub` (hub.cli) with a probe for bench/latency_split.py: the ingress's Relay._fan_out appends
` i<time.time()>` to the message of each stamped progress tick a pull brought, before the hub
handles it as usual. Bench-only; the hub's code is unchanged.

    python bench/latency_probe.py serve --port 8000 ...   # as `hub serve ...`
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from hub import cli  # noqa: E402
from hub.ingress import relay  # noqa: E402

_fan_out = relay.Relay._fan_out


def _stamped(self: Any, items: list[Any]) -> None:
    now = f" i{time.time():.6f}"
    for _, raw in items:
        data = raw[4] if isinstance(raw, tuple | list) and len(raw) > 4 else None
        if isinstance(data, dict) and isinstance(data.get("message"), str) and " s" in data["message"]:
            data["message"] += now
    _fan_out(self, items)


relay.Relay._fan_out = _stamped  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(cli.main())
