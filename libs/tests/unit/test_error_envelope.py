"""Every error a service produces is the API envelope, with a request id and no internals."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Request
from pydantic import BaseModel, Field

from mss_contracts.api import ErrorCode
from mss_contracts.errors import Conflict, Forbidden, NotFound, RateLimited
from mss_web.context import RequestIdMiddleware
from mss_web.handlers import (
    RefusalObserver,
    install_error_handlers,
    observe_refusals,
)


class Body(BaseModel):
    name: str = Field(min_length=1)
    count: int


class Batch(BaseModel):
    items: list[Body]


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(RequestIdMiddleware)

    @app.post("/things")
    async def create(body: Body) -> dict[str, str]:
        return {"name": body.name}

    @app.post("/batches")
    async def batch(body: Batch) -> dict[str, int]:
        return {"items": len(body.items)}

    @app.get("/conflict")
    async def conflict() -> None:
        raise Conflict("Already there", details={"name": "taken"})

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("SELECT secret FROM internal_host.db")

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


def _assert_envelope(response: httpx.Response, status: int, code: str, path: str) -> None:
    assert response.status_code == status
    body = response.json()
    assert body["success"] is False
    assert body["code"] == code
    assert body["path"] == path
    assert body["error"]
    assert "timestamp" in body
    assert response.headers["x-request-id"]


async def test_unknown_route_is_a_404_envelope(client: httpx.AsyncClient) -> None:
    _assert_envelope(await client.get("/nowhere"), 404, "NOT_FOUND", "/nowhere")


async def test_wrong_method_is_a_405_envelope(client: httpx.AsyncClient) -> None:
    _assert_envelope(await client.delete("/things"), 405, "METHOD_NOT_ALLOWED", "/things")


async def test_invalid_body_names_each_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/things", json={"name": "", "count": "many"})
    _assert_envelope(response, 422, "VALIDATION_ERROR", "/things")
    assert set(response.json()["details"]) == {"name", "count"}


async def test_a_list_item_is_named_by_its_index_in_brackets(client: httpx.AsyncClient) -> None:
    items = [{"name": "a", "count": 1}, {"name": "b", "count": "many"}]
    response = await client.post("/batches", json={"items": items})
    _assert_envelope(response, 422, "VALIDATION_ERROR", "/batches")
    assert set(response.json()["details"]) == {"items[1].count"}


async def test_malformed_json_is_a_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/things", content=b'{"name": ', headers={"content-type": "application/json"}
    )
    _assert_envelope(response, 400, "BAD_REQUEST", "/things")


async def test_domain_error_keeps_its_status_code_and_details(client: httpx.AsyncClient) -> None:
    response = await client.get("/conflict")
    _assert_envelope(response, 409, "CONFLICT", "/conflict")
    assert response.json()["details"] == {"name": "taken"}


async def test_unexpected_error_is_a_500_without_internals(client: httpx.AsyncClient) -> None:
    response = await client.get("/boom")
    _assert_envelope(response, 500, "INTERNAL_ERROR", "/boom")
    assert "SELECT" not in response.text
    assert "Traceback" not in response.text


async def test_gateway_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/nowhere", headers={"X-Request-ID": "abc123def456"})
    assert response.headers["x-request-id"] == "abc123def456"


# --- refusals are told to the app's observer (the denial journal, in a service) ------------


class DomainRefusal(NotFound):
    pass


def _observed_app(observer: RefusalObserver) -> FastAPI:
    app = _app()
    observe_refusals(app, observer)

    @app.get("/things/{id}")
    async def forbidden(id: str) -> None:
        raise Forbidden("Missing permission things:read")

    @app.get("/hidden")
    async def hidden() -> None:
        raise DomainRefusal("of another tenant")

    @app.get("/slow-down")
    async def slow_down() -> None:
        raise RateLimited("Too many wrong codes", headers={"Retry-After": "300"})

    return app


async def _get(app: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        return await c.get(path)


async def test_every_refusal_is_told_to_the_observer_with_its_route_code_and_message() -> None:
    heard: list[tuple[str | None, int, ErrorCode, str]] = []

    def observer(request: Request, status: int, code: ErrorCode, message: str) -> None:
        route = getattr(request.scope.get("route"), "path", None)
        heard.append((route, status, code, message))

    app = _observed_app(observer)
    assert (await _get(app, "/things/42")).status_code == 403
    assert (await _get(app, "/hidden")).status_code == 404
    assert (await _get(app, "/slow-down")).status_code == 429
    assert (await _get(app, "/nowhere")).status_code == 404
    # Not refusals: a conflict, a validation error, a crash.
    for path in ("/conflict", "/boom"):
        await _get(app, path)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        await c.post("/things", json={"name": ""})

    assert heard == [
        ("/things/{id}", 403, ErrorCode.FORBIDDEN, "Missing permission things:read"),
        ("/hidden", 404, ErrorCode.NOT_FOUND, "Resource not found"),
        ("/slow-down", 429, ErrorCode.RATE_LIMITED, "Too many wrong codes"),
        (None, 404, ErrorCode.NOT_FOUND, "Resource not found"),
    ]


async def test_an_observer_that_fails_changes_nothing_in_the_answer() -> None:
    def broken(request: Request, status: int, code: ErrorCode, message: str) -> None:
        raise RuntimeError("journal exploded")

    response = await _get(_observed_app(broken), "/slow-down")
    _assert_envelope(response, 429, "RATE_LIMITED", "/slow-down")
    assert response.headers["retry-after"] == "300"
    assert "exploded" not in response.text
