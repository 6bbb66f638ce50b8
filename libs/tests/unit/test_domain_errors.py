"""A service's domain errors answer for themselves: each is an `ApiError` (status and code),
so the one handler in mss_web turns it into the envelope and no `main.py` lists them."""

from __future__ import annotations

import importlib
import importlib.util
import inspect

import pytest

from mss_contracts.errors import ApiError
from mss_settings import registry
from mss_settings.registry import ServiceSpec


@pytest.mark.parametrize("spec", registry.services(), ids=lambda spec: spec.name)
def test_every_domain_error_carries_its_status_and_code(spec: ServiceSpec) -> None:
    name = f"{spec.package}.domain.errors"
    assert importlib.util.find_spec(name) is not None, f"{spec.name} keeps no {name}"
    module = importlib.import_module(name)
    errors = [
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, BaseException)
        and value.__module__ == module.__name__
    ]

    assert errors, f"{name} defines no error"
    assert [e.__name__ for e in errors if not issubclass(e, ApiError)] == []
