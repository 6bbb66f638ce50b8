"""JSON request bodies validated once, from the raw bytes.

FastAPI parses a JSON body with `json.loads` (Python objects for every value) and then
validates those objects against the model: two passes over a large body, the first one
building throw-away dicts. `JsonBodyRoute` validates the bytes with pydantic's
`model_validate_json` instead (one pass, in Rust) and hands FastAPI the validated model,
which it accepts as is. Everything else stays FastAPI's: the same OpenAPI document; a
refused body takes FastAPI's own path (the envelope's 422 naming `alerts[3].severity`, its
400 on malformed JSON, a 401 before either); and so do the cases it decides differently
(an empty body, a body not JSON by its Content-Type, embedded bodies, non-model bodies).
"""

from __future__ import annotations

import email.message
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from mss_contracts.api import NUL_FREE, nul_free_json


def _is_json(content_type: str | None) -> bool:
    # FastAPI's own rule (strict content type): parse as JSON only when declared JSON.
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def _body_model(route: APIRoute) -> type[BaseModel] | None:
    """The model of a route's whole JSON body, or None when FastAPI should parse it."""
    field = route.body_field
    if field is None or route._embed_body_fields:  # FastAPI has no public flag for it
        return None
    annotation = field.field_info.annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


class JsonBodyRoute(APIRoute):
    """An APIRoute whose JSON body (one pydantic model) is validated once from its bytes."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        model = _body_model(self)
        if model is None:
            return handler

        async def validated_once(request: Request) -> Response:
            # The body limit middleware refuses an oversized body while it is read, here,
            # before anything is parsed.
            raw = await request.body()
            if raw and _is_json(request.headers.get("content-type")):
                # Bytes seen to hold no NUL spare the models' per-value check for it.
                context = {NUL_FREE: True} if nul_free_json(raw) else None
                try:
                    parsed: Any = model.model_validate_json(raw, context=context)
                except ValidationError:
                    # A refused body takes FastAPI's own path (parse, then validate after
                    # the route's dependencies): the same 400 or 422, and an unauthenticated
                    # caller still meets its 401 first, not the body's faults.
                    return await handler(request)
                # Starlette's Request.json() returns this cached value, so FastAPI neither
                # parses nor re-validates: a model instance passes its field as it is.
                request._json = parsed
            return await handler(request)

        return validated_once
