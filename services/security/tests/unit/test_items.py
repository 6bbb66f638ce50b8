"""The example's rules and its request body."""

import pytest
from pydantic import ValidationError

from mss_security.api.schemas import ItemCreate
from mss_security.domain.items import NAME_MAX, clean_name


def test_names_lose_surrounding_blanks() -> None:
    assert clean_name("  probe  ") == "probe"


@pytest.mark.parametrize("name", ["", "   ", "x" * (NAME_MAX + 1)])
def test_a_blank_or_long_name_is_refused(name: str) -> None:
    with pytest.raises(ValidationError):
        ItemCreate.model_validate({"name": name})


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError):
        ItemCreate.model_validate({"name": "probe", "color": "red"})
