"""The generated OpenAPI documents: one merged document of every service's paths, clashes
renamed per service, output stable and carrying the registry's generated mark."""

from __future__ import annotations

import importlib.util
import json
from types import ModuleType
from typing import Any

import pytest

from mss_settings.registry import ROOT


def _generator() -> ModuleType:
    path = ROOT / "scripts" / "lib" / "openapi.py"
    spec = importlib.util.spec_from_file_location("mss_openapi_generator", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


openapi = _generator()


def _document(paths: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def _get(operation_id: str, schema: str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{schema}"}
    return {
        "get": {
            "operationId": operation_id,
            "responses": {"200": {"content": {"application/json": {"schema": ref}}}},
        }
    }


PAGE_A = {"properties": {"total": {"type": "integer"}}, "type": "object"}
PAGE_B = {"properties": {"nextCursor": {"type": "string"}}, "type": "object"}
LIST = {"properties": {"meta": {"$ref": "#/components/schemas/Page"}}, "type": "object"}
ERROR = {"properties": {"detail": {"type": "string"}}, "type": "object"}


def test_shared_components_stay_once_and_clashing_ones_are_renamed_with_their_refs() -> None:
    documents = {
        "alpha": _document(
            {"/api/alpha": _get("list_alpha", "List")},
            {"Page": PAGE_A, "List": LIST, "Error": ERROR},
        ),
        "beta": _document(
            {"/api/beta": _get("list_beta", "List")},
            {"Page": PAGE_B, "List": LIST, "Error": ERROR},
        ),
    }

    merged, report = openapi.merge(documents, version="1.2.3")

    schemas = merged["components"]["schemas"]
    # Error is the same everywhere: kept once. Page differs, and List (same text) refers to
    # it, so both are renamed per service and each service's refs follow its own copy.
    assert set(schemas) == {"Error", "alpha_Page", "beta_Page", "alpha_List", "beta_List"}
    assert schemas["beta_List"]["properties"]["meta"]["$ref"] == "#/components/schemas/beta_Page"
    beta = merged["paths"]["/api/beta"]
    ref = beta["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ref == "#/components/schemas/beta_List"
    assert beta["x-mss-service"] == "beta"
    assert len(report) == 2
    assert any("schemas/Page" in line and "alpha, beta" in line for line in report)
    assert merged["info"]["version"] == "1.2.3"


def test_a_path_or_operation_claimed_by_two_services_stops_the_merge() -> None:
    same_path = {
        "alpha": _document({"/api/things": _get("a", "Error")}, {"Error": ERROR}),
        "beta": _document({"/api/things": _get("b", "Error")}, {"Error": ERROR}),
    }
    same_operation = {
        "alpha": _document({"/api/a": _get("list", "Error")}, {"Error": ERROR}),
        "beta": _document({"/api/b": _get("list", "Error")}, {"Error": ERROR}),
    }

    with pytest.raises(openapi.MergeError, match="/api/things"):
        openapi.merge(same_path, version="0")
    with pytest.raises(openapi.MergeError, match="operationId list"):
        openapi.merge(same_operation, version="0")


def test_rendering_is_stable_and_puts_the_generated_mark_first() -> None:
    document = _document({"/b": {}, "/a": {}}, {"Z": {}, "A": {}})
    document["info"]["description"] = f"x, {openapi.GENERATED_MARK}"
    shuffled = dict(reversed(list(document.items())))

    text = openapi.render(document)

    assert text == openapi.render(shuffled)
    assert text.index('"/a"') < text.index('"/b"')
    assert openapi.GENERATED_MARK in text[:500]
    assert text.endswith("}\n")


def test_every_committed_document_carries_the_registrys_generated_mark() -> None:
    """The registry test skips only files with the mark in their first 500 characters
    (whether the documents are current is `scripts/openapi --check`, in lint)."""
    documents = sorted((ROOT / "docs" / "openapi").glob("*.json"))

    assert f"{openapi.MERGED}.json" in {path.name for path in documents}
    for path in documents:
        text = path.read_text(encoding="utf-8")
        assert openapi.GENERATED_MARK in text[:500], path.name
        assert json.loads(text)["openapi"].startswith("3."), path.name
