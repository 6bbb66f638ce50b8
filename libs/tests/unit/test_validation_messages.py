"""What a refused request reads names values, never Python reprs.

A `Literal[SomeEnum.MEMBER]` in a request model makes pydantic say
"Input should be <SomeEnum.MEMBER: 'member'>": every service's request bodies and query
parameters are walked here, and such a literal must spell plain values instead.
"""

from __future__ import annotations

import importlib
import typing
from collections.abc import Iterator
from enum import Enum, StrEnum
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from mss_settings import registry
from mss_settings.registry import ServiceSpec
from mss_testing.routes import api_routes


def _annotations(annotation: Any, seen: set[type[BaseModel]]) -> Iterator[Any]:
    """The annotation and everything inside it, models' fields included."""
    yield annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:
            return
        seen.add(annotation)
        for field in annotation.model_fields.values():
            yield from _annotations(field.annotation, seen)
        return
    for argument in typing.get_args(annotation):
        if typing.get_origin(annotation) is not Literal:
            yield from _annotations(argument, seen)


def _enum_literals(annotation: Any) -> list[str]:
    found = []
    for inner in _annotations(annotation, set()):
        if typing.get_origin(inner) is Literal:
            found += [repr(value) for value in typing.get_args(inner) if isinstance(value, Enum)]
    return found


def _request_fields(spec: ServiceSpec) -> Iterator[tuple[str, Any]]:
    app = importlib.import_module(f"{spec.package}.main").create_app()
    for route in api_routes(app.routes):
        params = route.dependant.body_params + route.dependant.query_params
        for sub in route.dependant.dependencies:
            params += sub.query_params
        for param in params:
            yield (
                f"{sorted(route.methods or [])} {route.path} {param.name}",
                param.field_info.annotation,
            )


@pytest.mark.parametrize("spec", registry.services(), ids=lambda spec: spec.name)
def test_no_request_model_spells_an_enum_member_in_a_literal(spec: ServiceSpec) -> None:
    offenders = {
        where: literals
        for where, annotation in _request_fields(spec)
        if (literals := _enum_literals(annotation))
    }

    assert offenders == {}


def test_the_walk_sees_every_route_of_a_service() -> None:
    spec = registry.service("identity")
    walked = {where for where, _ in _request_fields(spec)}
    assert "['PUT'] /api/users/{user_id} body" in walked, sorted(walked)


def test_the_walk_finds_an_enum_member_inside_a_model() -> None:
    class Colour(StrEnum):
        RED = "red"

    class Inner(BaseModel):
        colour: Literal[Colour.RED] | None = None

    class Outer(BaseModel):
        inner: list[Inner]

    assert _enum_literals(Outer) == [repr(Colour.RED)]
    assert _enum_literals(Literal["red"]) == []
