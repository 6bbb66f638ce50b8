"""The security parameters themselves (SECURITY.md): KDF defaults, lockout back-off,
TOTP drift window and single use, password length bounds."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest

from mss_identity.config import IdentitySettings
from mss_identity.domain.mfa import STEP_S, matching_step, new_secret
from mss_identity.domain.passwords import password_problem
from mss_identity.domain.users import lock_duration


def test_the_configured_kdf_meets_owasp_argon2id_minimums() -> None:
    settings = IdentitySettings()
    assert settings.argon2_memory_kib >= 19 * 1024
    assert settings.argon2_time_cost >= 2
    assert settings.argon2_parallelism == 1


def test_lockout_starts_at_five_failures_and_doubles_up_to_fifteen_minutes() -> None:
    assert [lock_duration(n) for n in range(5)] == [None] * 5
    assert [lock_duration(n) for n in range(5, 11)] == [
        timedelta(minutes=m) for m in (1, 2, 4, 8, 15, 15)
    ]
    assert lock_duration(1000) == timedelta(minutes=15)


NOW = 1_800_000_015.0  # 15 s into a step
SECRET = new_secret()


def _code(step_offset: int) -> str:
    return pyotp.TOTP(SECRET, interval=STEP_S).at(NOW + step_offset * STEP_S)


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_a_code_one_step_either_side_is_accepted(offset: int) -> None:
    current = int(NOW // STEP_S)
    assert matching_step(SECRET, _code(offset), after_step=0, now=NOW) == current + offset


@pytest.mark.parametrize("offset", [-3, -2, 2, 3])
def test_a_code_two_or_more_steps_away_is_refused(offset: int) -> None:
    assert matching_step(SECRET, _code(offset), after_step=0, now=NOW) is None


def test_a_code_at_or_before_the_last_used_step_is_refused() -> None:
    current = int(NOW // STEP_S)
    assert matching_step(SECRET, _code(0), after_step=current, now=NOW) is None
    assert matching_step(SECRET, _code(-1), after_step=current - 1, now=NOW) is None
    assert matching_step(SECRET, _code(1), after_step=current, now=NOW) == current + 1


def test_seeds_carry_160_bits() -> None:
    assert len(new_secret()) * 5 >= 160  # base32: 5 bits a character


@pytest.mark.parametrize("length", [12, 64, 128])
def test_unusual_passwords_from_12_to_128_characters_are_accepted(length: int) -> None:
    passphrase = ("quartz lantern otter violet mosaic " * 4)[:length]
    assert password_problem(passphrase) is None, length
