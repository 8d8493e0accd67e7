"""Log set-up for `hub serve`: readable text, or one JSON object per line (HUB_LOG_FORMAT=json) for
log shippers. The hub's loggers pass context as `extra` (session, educator, job, shard, ingress);
JSON lines carry it as fields, text lines already say it in the message."""

from __future__ import annotations

import json
import logging

CONTEXT = ("session", "educator", "job", "shard", "ingress", "code")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: `ts` (Unix seconds, to the microsecond), `level` (lower case),
    `logger`, `msg`, `pid`, each CONTEXT field the record carries, and `exc` (the formatted
    traceback) when it has one. Values JSON has no form for are written as their str().

    Kept rather than python-json-logger: 20 lines of the standard library give exactly these field
    names and levels, where the library would need its renames plus a subclass for them."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON (non-ASCII kept as is)."""
        out: dict[str, object] = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "pid": record.process,
        }
        for name in CONTEXT:
            value = getattr(record, name, None)
            if value is not None:
                out[name] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def configure(level: str, fmt: str) -> None:
    """Send every log record to stderr as `fmt` ("json": JsonFormatter; anything else: readable text)
    from `level` up (debug, info, warning, error; any case), replacing the root logger's handlers.
    ValueError for an unknown level."""
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
