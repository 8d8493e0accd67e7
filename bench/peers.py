"""The bare FastAPI peer: a minimal uvicorn WebSocket server that only sends the same batch frames
as the hub, one message per frame, to every connection. The ceiling of this stack.

    python bench/peers.py --port 8101
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from hub.protocol import batch_frame, envelope_json  # noqa: E402


def bare_app() -> FastAPI:
    app = FastAPI()
    conns: set[WebSocket] = set()
    seq = 0

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        hello = json.loads(await websocket.receive_text())
        await websocket.send_text(
            json.dumps(
                {
                    "op": "welcome",
                    "session": "bare",
                    "educatorId": hello.get("token"),
                    "epoch": "bare",
                    "seq": 0,
                    "heartbeat": 20,
                    "resumed": False,
                    "snapshot": [],
                }
            )
        )
        conns.add(websocket)
        try:
            while True:
                await websocket.receive_text()
        except WebSocketDisconnect:
            pass
        finally:
            conns.discard(websocket)

    @app.post("/blast")
    async def blast(body: dict[str, Any]) -> dict[str, int]:
        nonlocal seq
        seq += 1
        frame = batch_frame([envelope_json(seq, "notification", body["ts"], body["data"])])
        await asyncio.gather(*(c.send_text(frame) for c in list(conns)), return_exceptions=True)
        return {"sent": len(conns)}

    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8101)
    args = parser.parse_args()
    uvicorn.run(
        bare_app(),
        host="127.0.0.1",
        port=args.port,
        ws="websockets-sansio",
        log_level="warning",
        ws_per_message_deflate=True,
    )
