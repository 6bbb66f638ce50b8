"""The control of `scripts/bench api`: a bare FastAPI + asyncpg app (not a service).

`python scripts/lib/bench_control.py --spec SPEC.json --port PORT`

For every target of the spec, `GET /<name>` takes a pooled asyncpg connection of the
target's database role, opens a transaction, sets the same RLS settings as the services'
unit of work (`mss_db.scope.apply_scope`: `app.org_ids`, `app.all_orgs`, transaction-local),
runs the target's statements in order and answers the rows as JSON. No auth, no
middleware, no ORM: what the service's answer costs at the least, on the same rows.
A target with `static` answers that JSON document without touching the database.

Spec: {"pool_size": N, "targets": [{"name", "dsn", "settings": {"app.org_ids": "...",
"app.all_orgs": "on"|"off"}, "statements": [{"sql": "...", "args": [...]}]} | {"name",
"static": {...}}]}. Arguments tagged {"uuid": "..."} or {"timestamp": "..."} are decoded.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import uvicorn
from fastapi import FastAPI
from fastapi.responses import Response

_SET_SCOPE = "SELECT set_config('app.org_ids', $1, true), set_config('app.all_orgs', $2, true)"


def _arg(value: Any) -> Any:
    if isinstance(value, dict) and "uuid" in value:
        return uuid.UUID(value["uuid"])
    if isinstance(value, dict) and "timestamp" in value:
        return datetime.fromisoformat(value["timestamp"])
    if isinstance(value, list):
        return [_arg(item) for item in value]
    return value


def _default(value: Any) -> str:
    # UUIDs, timestamps, addresses: their text, as the services answer them.
    return str(value)


def build_app(spec: dict[str, Any]) -> FastAPI:
    pools: dict[str, asyncpg.Pool] = {}
    pool_size = int(spec.get("pool_size", 10))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for target in spec["targets"]:
            dsn = target.get("dsn")
            if dsn and dsn not in pools:
                pools[dsn] = await asyncpg.create_pool(dsn, min_size=1, max_size=pool_size)
        yield
        for pool in pools.values():
            await pool.close()

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    def add_route(target: dict[str, Any]) -> None:
        name = target["name"]
        if "static" in target:
            body = json.dumps(target["static"]).encode()

            @app.get(f"/{name}")
            async def static() -> Response:
                return Response(body, media_type="application/json")

            return
        dsn = target["dsn"]
        settings = target["settings"]
        statements = [
            (s["sql"], [_arg(a) for a in s.get("args", [])]) for s in target["statements"]
        ]

        @app.get(f"/{name}")
        async def query() -> Response:
            results = []
            async with pools[dsn].acquire() as conn, conn.transaction():
                await conn.execute(_SET_SCOPE, settings["app.org_ids"], settings["app.all_orgs"])
                for sql, args in statements:
                    rows = await conn.fetch(sql, *args)
                    results.append([dict(row) for row in rows])
            payload = {"success": True, "data": results}
            return Response(json.dumps(payload, default=_default), media_type="application/json")

    for target in spec["targets"]:
        add_route(target)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = build_app(json.loads(args.spec.read_text()))
    # One process, the services' uvicorn options (mss_service.cli.run_api).
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        server_header=False,
        date_header=False,
    )


if __name__ == "__main__":
    main()
