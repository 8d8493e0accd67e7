"""Strict JSON on the HTTP API, for every route at once (hub.core.strictjson has the rule).

- Bodies: `StrictJSONRoute` hands FastAPI a request whose `json()` parses strictly, so a body with
  NaN, Infinity, a number past a double or a lone surrogate gets FastAPI's 422 for invalid JSON,
  with the reason (`ctx.error`) naming the field, before any endpoint or model sees it.
- Answers: `StrictJSONResponse` writes strict JSON; a value that slipped through (a stored result
  from before this rule) is made safe (`hub.core.strictjson.safe`: null, U+FFFD) and logged, never a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from hub.core import strictjson

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
        text, problem = strictjson.dumps_safe(content)
        if problem is not None:
            log.warning("answer made safe for strict JSON: %s", problem)
        return text.encode("utf-8")
