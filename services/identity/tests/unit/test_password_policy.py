import pytest

from mss_identity.domain.passwords import password_problem


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short1!", "at least 12"),
        ("password123456", "too common"),
        ("aaaaaaaaaaaaaaaa", "too common"),
        ("x" * 129, "at most 128"),
    ],
)
def test_weak_or_oversized_passwords_are_refused(password: str, problem: str) -> None:
    refused = password_problem(password)
    assert refused is not None
    assert problem in refused


def test_a_long_unusual_passphrase_is_accepted_without_composition_rules() -> None:
    assert password_problem("violet tractor sings under nine lanterns") is None


def test_the_users_own_email_counts_against_the_password() -> None:
    assert password_problem("jane.doe@example.com") is None
    assert password_problem("jane.doe@example.com", user_inputs=["jane.doe@example.com"])
