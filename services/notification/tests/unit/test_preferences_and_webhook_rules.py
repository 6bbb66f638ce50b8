"""Preferences (quiet hours, muting, severity) and webhook rules (matching, retries, SSRF)."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, time, timedelta

import pytest
from pydantic import ValidationError

from mss_notification.api.schemas import PreferencesBody
from mss_notification.domain.preferences import Digest, Preferences, QuietHours, period_start
from mss_notification.domain.webhooks import (
    failures_after,
    matches,
    next_attempt,
    refused,
    url_problem,
)

PARIS_NIGHT = QuietHours(timezone="Europe/Paris", start=time(22, 0), end=time(7, 0))


class TestQuietHours:
    def test_inside_overnight_hours_mail_waits_for_their_end(self) -> None:
        now = datetime(2030, 1, 10, 22, 30, tzinfo=UTC)  # 23:30 in Paris (UTC+1)
        assert PARIS_NIGHT.until(now) == datetime(2030, 1, 11, 6, 0, tzinfo=UTC)

    def test_after_midnight_still_inside(self) -> None:
        now = datetime(2030, 1, 11, 2, 0, tzinfo=UTC)  # 03:00 in Paris
        assert PARIS_NIGHT.until(now) == datetime(2030, 1, 11, 6, 0, tzinfo=UTC)

    def test_outside_mail_goes_now(self) -> None:
        now = datetime(2030, 1, 11, 12, 0, tzinfo=UTC)
        assert PARIS_NIGHT.until(now) is None
        assert Preferences(quiet_hours=PARIS_NIGHT).mail_after(now) == now

    def test_same_day_window(self) -> None:
        lunch = QuietHours(timezone="UTC", start=time(12, 0), end=time(13, 0))
        assert lunch.until(datetime(2030, 1, 1, 12, 15, tzinfo=UTC)) == datetime(
            2030, 1, 1, 13, 0, tzinfo=UTC
        )
        assert lunch.until(datetime(2030, 1, 1, 13, 0, tzinfo=UTC)) is None


class TestWants:
    def test_muted_types_are_never_told(self) -> None:
        prefs = Preferences(muted_types=frozenset({"intervention.started"}))
        assert not prefs.wants("intervention.started", None)
        assert prefs.wants("intervention.completed", None)

    def test_alerts_below_the_users_minimum_are_dropped(self) -> None:
        prefs = Preferences(min_alert_severity="critical")
        assert not prefs.wants("security.alert.created", "high")
        assert prefs.wants("security.alert.created", "critical")


def test_digest_periods_start_on_the_hour_and_the_day() -> None:
    at = datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert period_start(Digest.HOURLY, at) == datetime(2030, 5, 6, 7, tzinfo=UTC)
    assert period_start(Digest.DAILY, at) == datetime(2030, 5, 6, tzinfo=UTC)


class TestPreferencesBody:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            (
                {"quietHours": {"timezone": "Mars/Olympus", "start": "22:00", "end": "07:00"}},
                "timezone",
            ),
            ({"quietHours": {"timezone": "UTC", "start": "24:00", "end": "07:00"}}, "start"),
            ({"quietHours": {"timezone": "UTC", "start": "22:00", "end": "7:00"}}, "end"),
            ({"digest": "weekly"}, "digest"),
            ({"mutedTypes": ["security.alert.nope"]}, "mutedTypes"),
            ({"minAlertSeverity": "severe"}, "minAlertSeverity"),
            ({"channels": {"inApp": "yes", "email": True}}, "inApp"),
        ],
    )
    def test_bad_values_name_their_field(self, body: dict[str, object], field: str) -> None:
        with pytest.raises(ValidationError) as caught:
            PreferencesBody.model_validate(body)
        assert any(field in error["loc"] for error in caught.value.errors())

    def test_fields_left_out_keep_their_value(self) -> None:
        current = Preferences(email=False, digest=Digest.DAILY)
        after = PreferencesBody.model_validate({"mutedTypes": ["intervention.started"]}).applied_to(
            current
        )
        assert after.email is False
        assert after.digest is Digest.DAILY
        assert after.muted_types == frozenset({"intervention.started"})


class TestWebhookRules:
    def test_patterns(self) -> None:
        assert matches(["security.alert.*"], "security.alert.created")
        assert matches(["security.*"], "security.report.published")
        assert matches(["intervention.completed"], "intervention.completed")
        assert not matches(["security.alert.*"], "security.report.published")
        assert not matches(["intervention.completed"], "intervention.cancelled")

    def test_first_retry_within_a_minute_and_none_after_a_day(self) -> None:
        created = datetime(2030, 1, 1, tzinfo=UTC)
        first = next_attempt(attempt=1, created_at=created, now=created)
        assert first is not None
        assert first - created <= timedelta(seconds=60)
        late = created + timedelta(hours=23)
        assert next_attempt(attempt=12, created_at=created, now=late) is None

    @pytest.mark.parametrize(
        "address",
        [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "fd00::1",
            "::1",
            "fe80::1",
            "0.0.0.0",  # noqa: S104 (an address refused, nothing bound)
            "100.64.0.1",
            "::ffff:127.0.0.1",
        ],
    )
    def test_non_public_addresses_are_refused(self, address: str) -> None:
        assert refused(ipaddress.ip_address(address)) is not None

    def test_public_addresses_pass(self) -> None:
        assert refused(ipaddress.ip_address("93.184.216.34")) is None
        assert refused(ipaddress.ip_address("2606:4700::1111")) is None

    def test_urls(self) -> None:
        assert url_problem("https://hooks.example.com/x", allow_private=False) is None
        assert url_problem("http://hooks.example.com/x", allow_private=False) is not None
        assert url_problem("http://127.0.0.1:9/x", allow_private=True) is None
        assert url_problem("https://user:pw@hooks.example.com/", allow_private=False) is not None
        assert url_problem("ftp://hooks.example.com/", allow_private=False) is not None


@pytest.mark.parametrize(
    ("oks", "expected"),
    [
        ([False], (False, 1)),  # one more failure
        ([False, False, False], (False, 3)),
        ([True], (True, 0)),  # delivered: the run is over
        ([False, True], (True, 0)),
        ([True, False, False], (True, 2)),  # the failures after the last success remain
        ([False, True, False, True, False], (True, 1)),
    ],
)
def test_a_round_of_attempts_moves_the_run_of_failures(
    oks: list[bool], expected: tuple[bool, int]
) -> None:
    assert failures_after(oks) == expected
