"""A JsonBodyRoute answers exactly as FastAPI's own route does, and parses a valid body once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import starlette.requests
from fastapi import APIRouter, Depends, FastAPI, Header
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

import mss_contracts.api
from mss_contracts.api import ApiInput
from mss_contracts.errors import Unauthorized
from mss_web.bodies import JsonBodyRoute
from mss_web.handlers import install_error_handlers


class Item(BaseModel):
    name: str = Field(min_length=1)
    count: int


class Batch(BaseModel):
    items: list[Item] = Field(min_length=1)


def _caller(authorization: str | None = Header(default=None)) -> str:
    if authorization is None:
        raise Unauthorized("Sign in")
    return authorization


def _router(route_class: type[APIRoute], prefix: str) -> APIRouter:
    router = APIRouter(prefix=prefix, route_class=route_class)

    @router.post("/batches")
    async def batch(body: Batch, caller: str = Depends(_caller)) -> dict[str, Any]:
        return {"items": [item.name for item in body.items], "caller": caller}

    return router


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(_router(APIRoute, "/plain"))
    app.include_router(_router(JsonBodyRoute, "/lean"))
    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


AUTH = {"authorization": "key"}
JSON = {"content-type": "application/json"}
CASES = [
    ("valid", b'{"items": [{"name": "a", "count": 1}]}', AUTH | JSON),
    (
        "bad field",
        b'{"items": [{"name": "a", "count": 1}, {"name": "", "count": "x"}]}',
        AUTH | JSON,
    ),
    ("malformed", b'{"items": [', AUTH | JSON),
    ("empty", b"", AUTH | JSON),
    ("not json", b'{"items": []}', {**AUTH, "content-type": "text/plain"}),
    ("no content type", b'{"items": [{"name": "a", "count": 1}]}', AUTH),
    ("unauthenticated bad body", b'{"items": "x"}', JSON),
]


@pytest.mark.parametrize(("body", "headers"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_answers_as_fastapi_does(
    client: httpx.AsyncClient, body: bytes, headers: dict[str, str]
) -> None:
    plain = await client.post("/plain/batches", content=body, headers=headers)
    lean = await client.post("/lean/batches", content=body, headers=headers)
    assert (lean.status_code, _answer(lean)) == (plain.status_code, _answer(plain))


def _answer(response: httpx.Response) -> Any:
    answer = response.json()
    # An error's envelope says when and where; the rest must be the same.
    return {k: v for k, v in answer.items() if k not in ("timestamp", "path")}


async def test_bad_item_names_its_field(client: httpx.AsyncClient) -> None:
    body = b'{"items": [{"name": "a", "count": 1}, {"name": "b", "count": "x"}]}'
    answer = await client.post("/lean/batches", content=body, headers=AUTH | JSON)
    assert answer.status_code == 422
    assert list(answer.json()["details"]) == ["items[1].count"]


async def test_valid_body_is_not_parsed_into_python_objects_first(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads = starlette.requests.json.loads
    parsed: list[object] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        parsed.append(args)
        return loads(*args, **kwargs)

    body = b'{"items": [{"name": "a", "count": 1}]}'
    with monkeypatch.context() as patch:
        patch.setattr(starlette.requests.json, "loads", counted)
        answer = await client.post("/lean/batches", content=body, headers=AUTH | JSON)
    assert parsed == []
    assert answer.status_code == 200
    assert answer.json() == {"items": ["a"], "caller": "key"}


class Note(ApiInput):
    text: str
    tags: dict[str, Any] = Field(default_factory=dict)


def _notes_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    for route_class, prefix in ((APIRoute, "/plain"), (JsonBodyRoute, "/lean")):
        router = APIRouter(prefix=prefix, route_class=route_class)

        @router.post("/notes")
        async def note(body: Note) -> dict[str, Any]:
            return {"text": body.text, "tags": body.tags}

        app.include_router(router)
    return app


NUL_CASES = [
    ("clean", b'{"text": "a", "tags": {"k": ["v"]}}'),
    ("nul escape", b'{"text": "a\\u0000b"}'),
    ("nul escape nested", b'{"text": "a", "tags": {"k": ["v", "\\u0000"]}}'),
    ("nul escape in a key", b'{"text": "a", "tags": {"\\u0000": 1}}'),
    ("escaped backslash, no nul", b'{"text": "a\\\\u0000b"}'),
    ("raw nul byte", b'{"text": "a\x00b"}'),
]


@pytest.mark.parametrize("body", [c[1] for c in NUL_CASES], ids=[c[0] for c in NUL_CASES])
async def test_nul_characters_are_refused_as_fastapi_refuses_them(body: bytes) -> None:
    transport = httpx.ASGITransport(app=_notes_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        plain = await c.post("/plain/notes", content=body, headers=JSON)
        lean = await c.post("/lean/notes", content=body, headers=JSON)
    assert (lean.status_code, _answer(lean)) == (plain.status_code, _answer(plain))


async def test_a_body_without_nul_is_not_walked_for_one(monkeypatch: pytest.MonkeyPatch) -> None:
    walked: list[object] = []
    real = mss_contracts.api._contains_nul

    def counted(value: Any) -> bool:
        walked.append(value)
        return real(value)

    monkeypatch.setattr(mss_contracts.api, "_contains_nul", counted)
    transport = httpx.ASGITransport(app=_notes_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        clean = await c.post("/lean/notes", content=NUL_CASES[0][1], headers=JSON)
        assert clean.status_code == 200
        assert walked == []
        doubtful = await c.post("/lean/notes", content=NUL_CASES[4][1], headers=JSON)
    assert doubtful.status_code == 200
    assert doubtful.json()["text"] == "a\\u0000b"
    assert walked  # the literal `\u0000` made it check the values one by one
