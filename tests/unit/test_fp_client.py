"""The mastering service's fingerprint call: explicit timeouts and a channel servers accept."""

from __future__ import annotations

import pytest

from mastering_service import fp_client
from shared import grpc_runtime


def test_unset_caller_deadline_uses_the_requested_timeout() -> None:
    # grpc reports "no deadline" as a huge remaining time (~1e19 s): it must not be forwarded.
    assert fp_client.fetch_timeout_s(5000, 1e19) == pytest.approx(5.0)
    assert fp_client.fetch_timeout_s(5000, None) == pytest.approx(5.0)


def test_caller_deadline_shorter_than_requested_wins_minus_margin() -> None:
    timeout = fp_client.fetch_timeout_s(5000, 2.0)
    assert timeout == pytest.approx(2.0 - fp_client.DEADLINE_MARGIN_S)


def test_requested_timeout_shorter_than_caller_deadline_wins() -> None:
    assert fp_client.fetch_timeout_s(800, 30.0) == pytest.approx(0.8)


def test_expired_caller_deadline_gives_zero_not_negative() -> None:
    assert fp_client.fetch_timeout_s(5000, 0.1) == 0.0
    assert fp_client.fetch_timeout_s(0, None) == 0.0


def test_client_keepalive_is_accepted_by_our_servers() -> None:
    # A client pinging faster than the server allows gets GOAWAY (too_many_pings).
    assert fp_client._KEEPALIVE_TIME_MS >= grpc_runtime._MIN_CLIENT_PING_INTERVAL_MS
