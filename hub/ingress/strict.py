"""Strict JSON on the HTTP API, for every route at once (hub.core.strictjson has the rule).

- Bodies: `StrictJSONRoute` hands FastAPI a request whose `json()` parses strictly, so a body with
  NaN, Infinity, a number past a double or a lone surrogate gets FastAPI's 422 for invalid JSON,
  with the reason (`ctx.error`) naming the field, before any endpoint or model sees it.
- Answers: `StrictJSONResponse` writes strict JSON; a value that slipped through (a stored result
  from before this rule) is made safe (`hub.core.strictjson.safe`: null, U+FFFD) and logged, never a 500.
  `negotiated` answers MessagePack instead where the request's `Accept` asks for it (PROTOCOL.md
  section 8): the same object, made safe the same way.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from hub.core import strictjson
from hub.core.codecs import MSGPACK_MEDIA_TYPE, pack, prefers_msgpack

log = logging.getLogger("hub.api")


class StrictJSONRequest(Request):
    """A request whose JSON body is parsed by hub.core.strictjson.loads (NotStrictJSON -> 422)."""

    async def json(self) -> Any:
        """The body parsed as strict JSON (hub.core.strictjson.loads), once. json.JSONDecodeError for text that
        is not JSON, NotStrictJSON (one too) for NaN, Infinity, a number past a double or a lone surrogate:
        FastAPI answers both with 422."""
        if not hasattr(self, "_json"):
            self._json = strictjson.loads(await self.body())
        return self._json


class StrictJSONRoute(APIRoute):
    """An APIRoute whose handler sees StrictJSONRequest (FastAPI's documented custom-request hook)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's hook: the route's handler, called with a StrictJSONRequest in place of the request."""
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict_handler


class StrictJSONResponse(JSONResponse):
    """JSONResponse that never writes NaN or a lone surrogate, and never fails on one."""

    def render(self, content: Any) -> bytes:
        """Starlette's hook: `content` as compact strict JSON in UTF-8 bytes; a value strict JSON cannot carry
        is made safe (null, U+FFFD) and logged, never raised."""
        return _safe_json(content).encode("utf-8")


def _safe_json(content: Any) -> str:
    text, problem = strictjson.dumps_safe(content)
    if problem is not None:
        log.warning("answer made safe for strict JSON: %s", problem)
    return text


class MsgpackResponse(Response):
    """An answer as MessagePack (`application/msgpack`): exactly the object StrictJSONResponse would write
    (made safe the same way), packed (hub.core.codecs.pack)."""

    media_type = MSGPACK_MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        """Starlette's hook: `content` as MessagePack bytes."""
        return pack(json.loads(_safe_json(content)))


# For a route's OpenAPI `responses`: its 200 may also be MessagePack.
MSGPACK_TOO: dict[int | str, dict[str, Any]] = {
    200: {"content": {MSGPACK_MEDIA_TYPE: {}}, "description": "JSON, or MessagePack with Accept: application/msgpack"}
}


def negotiated(request: Request, content: Any) -> Response:
    """`content` as MessagePack when the request's Accept header prefers it (hub.core.codecs.prefers_msgpack),
    else as strict JSON; either way with `Vary: Accept`, since the answer depends on it."""
    cls = MsgpackResponse if prefers_msgpack(request.headers.get("accept")) else StrictJSONResponse
    return cls(content, headers={"Vary": "Accept"})
