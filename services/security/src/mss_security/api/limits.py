"""Body limits of the ingest routes, enforced while the body arrives (before it is parsed)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# API.md: 10 MB at most anywhere (the gateway's cap too); a single alert is far smaller.
SINGLE_ALERT_MAX_BYTES = 512 * 1024
BATCH_MAX_BYTES = 10 * 1024 * 1024
LIMITS = {
    "/api/alerts": SINGLE_ALERT_MAX_BYTES,
    "/api/alerts/batch": BATCH_MAX_BYTES,
    "/api/threat-intel/indicators": BATCH_MAX_BYTES,
    "/api/threat-intel/imports": BATCH_MAX_BYTES,
}


class PayloadTooLarge(HTTPException):
    """An HTTP error, not an ApiError: FastAPI re-raises those from the body read (anything
    else it turns into a 400), and the envelope's handler answers 413 PAYLOAD_TOO_LARGE."""

    def __init__(self) -> None:
        super().__init__(status_code=413)


class IngestBodyLimit:
    """Refuse an ingest body over its route's limit: by its Content-Length at once, or
    as soon as the bytes received pass it (chunked bodies). The error is raised from
    `receive`, inside the app, so the envelope's handler answers it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = LIMITS.get(scope.get("path", "")) if scope["type"] == "http" else None
        if limit is None or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        received = 0

        async def limited() -> Message:
            nonlocal received
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise PayloadTooLarge()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge()
            return message

        await self.app(scope, limited, send)
