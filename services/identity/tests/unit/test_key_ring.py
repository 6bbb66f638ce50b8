"""Signing-key rotation without restart: the ring follows the key files; prune keeps live ones."""

from __future__ import annotations

import time
from pathlib import Path

from mss_identity.adapters.keys import KeyRing, add_key, created_at, prune_keys

TTL_S = 900


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _key_file(directory: Path, created: int, suffix: str) -> str:
    kid = add_key(directory)
    renamed = f"{created}-{suffix}"
    (directory / f"{kid}.pem").rename(directory / f"{renamed}.pem")
    return renamed


def test_the_ring_picks_up_a_rotated_key_after_its_interval(tmp_path: Path) -> None:
    first = add_key(tmp_path)
    clock = Clock()
    ring = KeyRing(tmp_path, interval_s=2.0, clock=clock)
    assert ring.current().active_kid == first
    assert [jwk["kid"] for jwk in ring.jwks()["keys"]] == [first]  # type: ignore[index]

    second = _key_file(tmp_path, int(time.time()) + 5, "bbbbbbbb")
    clock.now = 1.0
    assert ring.current().active_kid == first  # not looked at again yet
    clock.now = 2.5
    keys = ring.current()
    assert keys.active_kid == second
    # The previous key still verifies: it stays in the JWKS.
    assert {jwk["kid"] for jwk in keys.jwks()["keys"]} == {first, second}  # type: ignore[index]
    # The published document (built once per key set) follows the rotation too.
    assert {jwk["kid"] for jwk in ring.jwks()["keys"]} == {first, second}  # type: ignore[index]


def test_prune_keeps_the_newest_and_any_key_whose_tokens_may_live(tmp_path: Path) -> None:
    now = 1_800_000_000
    old = _key_file(tmp_path, now - 4 * TTL_S, "aaaaaaaa")
    retired_long_ago = _key_file(tmp_path, now - 3 * TTL_S, "bbbbbbbb")
    previous = _key_file(tmp_path, now - 2 * TTL_S, "cccccccc")
    newest = _key_file(tmp_path, now - 30, "dddddddd")

    removed = prune_keys(tmp_path, token_ttl_s=TTL_S, now=now)

    # `previous` signed until `newest` appeared 30 s ago: its tokens may still be live.
    assert removed == [old, retired_long_ago]
    assert sorted(p.stem for p in tmp_path.glob("*.pem")) == [previous, newest]
    assert created_at(newest) == now - 30


def test_prune_never_removes_the_only_key(tmp_path: Path) -> None:
    only = _key_file(tmp_path, 1, "aaaaaaaa")
    assert prune_keys(tmp_path, token_ttl_s=TTL_S, now=time.time()) == []
    assert [p.stem for p in tmp_path.glob("*.pem")] == [only]
