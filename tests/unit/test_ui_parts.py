"""The dashboard's pure parts: session cookie (signed, encrypted token, expiry, CSRF) and SVG charts."""

from __future__ import annotations

import time
from unittest import mock

from cryptography.fernet import Fernet

from herald.store.secretbox import SecretBox
from herald.ui.charts import Series, line_chart
from herald.ui.session import MAX_AGE, SessionCodec, csrf_ok, signing_key


def _codec(key: str | None = None) -> SessionCodec:
    key = key or Fernet.generate_key().decode()
    return SessionCodec([key], SecretBox([key]))


def test_session_round_trip_hides_the_token() -> None:
    codec = _codec()
    session, value = codec.new("hpat_secret-token")
    assert "hpat_" not in value
    back = codec.read(value)
    assert back == session and back.token == "hpat_secret-token"
    assert csrf_ok(session, session.csrf)
    assert not csrf_ok(session, None) and not csrf_ok(session, session.csrf + "x")
    # Each sign-in gets its own CSRF token.
    assert codec.new("hpat_secret-token")[0].csrf != session.csrf


def test_session_refuses_tampering_other_keys_and_age() -> None:
    codec = _codec()
    _, value = codec.new("hpat_t")
    assert codec.read(value[:-2] + ("AA" if not value.endswith("AA") else "BB")) is None
    assert codec.read("") is None and codec.read(None) is None and codec.read("not.a.cookie") is None
    assert _codec().read(value) is None  # another server's key
    with mock.patch("time.time", return_value=time.time() + MAX_AGE + 5):
        assert codec.read(value) is None


def test_signing_key_is_derived_not_the_master_key() -> None:
    key = Fernet.generate_key().decode()
    derived = signing_key([key])
    assert len(derived) == 32 and key.encode() not in derived and derived == signing_key([key])


def test_line_chart_draws_series_with_gaps() -> None:
    svg = line_chart(
        "Latency <p50>",
        [0.0, 60.0, 120.0, 180.0],
        [Series("p50", [10.0, None, 20.0, 30.0], "s-p50"), Series("ok", [None, 5.0, None, None], "s-ok")],
        "ms",
    )
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "Latency &lt;p50&gt;" in svg and "<p50>" not in svg  # titles are escaped
    assert svg.count("<polyline") == 1  # 20 → 30; the lone 10 and the lone 5 are dots
    assert svg.count("<circle") == 2
    assert "00:00" in svg and "00:03" in svg  # first and last slice times (UTC)


def test_line_chart_of_nothing_is_still_a_chart() -> None:
    svg = line_chart("Success", [], [Series("success %", [], "s-ok")], "%", y_max=100.0)
    assert "<polyline" not in svg and "100%" in svg


def test_a_chart_spanning_days_dates_its_axis() -> None:
    day = 86_400.0
    starts = [day * 400 + 6 * 3600 + 60 + i * 3600 for i in range(24)]  # 06:01 one day … 05:01 the next
    svg = line_chart("Success", starts, [Series("ok", [1.0] * 24, "s-ok")], "%")
    assert ">05 Feb 06:01<" in svg and ">06 Feb 05:01 UTC<" in svg
    within = line_chart("Success", starts[:3], [Series("ok", [1.0] * 3, "s-ok")], "%")
    assert ">06:01<" in within and ">08:01 UTC<" in within
