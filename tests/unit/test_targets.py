"""URL fields at creation: the canonical form stored, and 422 naming the field with the reason."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from pydantic import BaseModel, ValidationError

from herald.api.errors import ApiError
from herald.api.targets import TargetUrl, guard_target
from herald.config import Settings
from herald.dispatch.guard import AddressGuard, parse_subnets


class Hook(BaseModel):
    url: TargetUrl


def ctx(**settings: object) -> SimpleNamespace:
    s = Settings(**settings)  # type: ignore[arg-type]
    return SimpleNamespace(
        settings=s, guard=AddressGuard(s.allow_private_targets, parse_subnets(s.allow_subnets))
    )


def test_the_canonical_form_is_stored() -> None:
    assert (
        Hook(url="HTTPS://Hooks.\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25.com/in").url
        == "https://hooks.example.com/in"
    )


def test_a_bad_url_is_a_validation_error_with_the_reason() -> None:
    with pytest.raises(ValidationError) as info:
        Hook(url="http://127.1/")
    [error] = info.value.errors()
    assert error["type"] == "url" and error["loc"] == ("url",)
    assert error["msg"].startswith("the host '127.1' is not a canonical IPv4 address")


@pytest.mark.parametrize(
    ("settings", "url", "message"),
    [
        ({}, "http://example.com/", "hook_url: plain http:// is not allowed; use https:// (or set HERALD_"),
        (
            {"allow_http": True},
            "http://10.0.0.1/",
            "hook_url: the address 10.0.0.1 is not allowed (private); set HERALD_ALLOW_SUBNETS (or "
            "HERALD_ALLOW_PRIVATE_TARGETS) to permit it",
        ),
        ({"allow_http": True, "allow_subnets": "10.0.0.2/32"}, "http://10.0.0.1/", "(private)"),
    ],
)  # fmt: skip
def test_refused_targets_name_the_field(settings: dict[str, object], url: str, message: str) -> None:
    with pytest.raises(ApiError) as info:
        guard_target(ctx(**settings), url, "hook_url")
    assert info.value.status == 422 and info.value.data == {"field": "hook_url"}
    assert message in info.value.message


@pytest.mark.parametrize(
    ("settings", "url"),
    [
        ({}, None),
        ({}, "https://example.com/"),
        ({}, "https://localhost/"),  # names are vetted at delivery, when resolved
        ({"allow_http": True, "allow_subnets": "10.0.0.1/32"}, "http://10.0.0.1/"),
        ({"allow_private_targets": True}, "http://127.0.0.1:8080/"),
    ],
)
def test_allowed_targets_pass(settings: dict[str, object], url: str | None) -> None:
    guard_target(ctx(**settings), url)


@pytest.mark.parametrize(
    ("forward_to", "reason"),
    [
        ("http://127.1:3000/", "is not a canonical IPv4 address"),
        ("http://localhost:0/", "the port 0 must be a number from 1 to 65535"),
        ("ftp://localhost/", "must be an absolute http:// or https:// URL"),
    ],
)
def test_herald_listen_forward_to_follows_the_same_rules(forward_to: str, reason: str) -> None:
    from typer.testing import CliRunner

    from herald.cli import app

    result = CliRunner().invoke(
        app, ["listen", "--forward-to", forward_to, "--token", "t"], terminal_width=200
    )
    assert result.exit_code == 2
    assert reason in " ".join(result.output.split())
