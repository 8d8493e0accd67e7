"""The peers the hub is measured against, each a minimal uvicorn server on the same WebSocket
implementation (websockets-sansio, permessage-deflate on), sending the same batch payloads:

- bare FastAPI (the ceiling of this stack): `/ws` answers the hub's hello, then every message goes
  as its own batch frame to every connection;
- python-socketio (`--socketio`): an AsyncServer as an ASGI app, one room per educator (the client's
  auth names it: {"educator": ...}); each message is one `batch` event emitted to every room.

Both take `POST /blast {"ts", "data"}` to send one message.

    python bench/peers.py --port 8101 [--socketio]
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
from hub.core.protocol import batch_frame, envelope_json  # noqa: E402


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


def socketio_app() -> Any:
    import socketio

    sio = socketio.AsyncServer(async_mode="asgi", transports=["websocket"])
    rooms: set[str] = set()
    seq = 0

    @sio.event
    async def connect(sid: str, environ: dict[str, Any], auth: dict[str, Any] | None) -> bool:
        educator = (auth or {}).get("educator")
        if not educator:
            return False
        await sio.enter_room(sid, educator)
        rooms.add(educator)
        return True

    api = FastAPI()

    @api.post("/blast")
    async def blast(body: dict[str, Any]) -> dict[str, int]:
        nonlocal seq
        seq += 1
        payload = json.loads(batch_frame([envelope_json(seq, "notification", body["ts"], body["data"])]))
        await sio.emit("batch", payload, to=list(rooms))  # encoded once, sent to every room's members
        return {"rooms": len(rooms)}

    return socketio.ASGIApp(sio, other_asgi_app=api)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8101)
    parser.add_argument("--socketio", action="store_true", help="the python-socketio peer instead of bare FastAPI")
    args = parser.parse_args()
    uvicorn.run(
        socketio_app() if args.socketio else bare_app(),
        host="127.0.0.1",
        port=args.port,
        ws="websockets-sansio",
        log_level="warning",
        ws_per_message_deflate=True,
    )
