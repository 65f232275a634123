"""A small HTTP client of the dashboard for the tests: sign in with a token, read CSRF tokens from pages."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_harness import Api, Herald

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Ui:
    def __init__(self, herald: Herald) -> None:
        self.http = httpx.Client(base_url=herald.base_url, timeout=30.0, follow_redirects=False)

    def close(self) -> None:
        self.http.close()

    def sign_in(self, token: str) -> httpx.Response:
        return self.http.post("/ui/sign-in", data={"token": token})

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def csrf(self, page: str = "/ui/") -> str:
        resp = self.http.get(page, follow_redirects=True)
        found = CSRF.search(resp.text)
        assert found, f"no CSRF token on {page}: {resp.status_code} {resp.text[:500]}"
        return found.group(1)

    def post(self, path: str, data: dict[str, Any], csrf: str | None = "from-page") -> httpx.Response:
        body = dict(data)
        if csrf == "from-page":
            body["csrf"] = self.csrf()
        elif csrf is not None:
            body["csrf"] = csrf
        return self.http.post(path, data=body)


def personal_token(api: Api, account_id: str, **fields: Any) -> str:
    out = api.expect(201, "POST", f"/v1/accounts/{account_id}/tokens", json={"name": "ui", **fields})
    return str(out["token"])


# ------------------------------------------------------------------------------------------- browser

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def chromium_path() -> str | None:
    """The system Chromium (Debian package `chromium`); Playwright's own browsers are never downloaded."""
    explicit = os.environ.get("HERALD_TEST_CHROMIUM")
    for candidate in (explicit, *CHROMIUM_CANDIDATES):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def needs_chromium() -> pytest.MarkDecorator:
    """The browser tests' module mark: skipped without the system Chromium, an error when CI demands it
    (HERALD_TEST_REQUIRE_CHROMIUM=1)."""
    if chromium_path() is None and os.environ.get("HERALD_TEST_REQUIRE_CHROMIUM") == "1":
        raise RuntimeError("HERALD_TEST_REQUIRE_CHROMIUM=1 but no system Chromium: apt-get install chromium")
    return pytest.mark.skipif(chromium_path() is None, reason="no system Chromium: apt-get install chromium")


def launch_chromium(playwright: Any) -> Any:
    path = chromium_path()
    if path is None:
        raise RuntimeError("no system Chromium: apt-get install -y chromium (or set HERALD_TEST_CHROMIUM)")
    # Chromium's sandbox cannot start as root (CI containers): only then run without it.
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    return playwright.chromium.launch(executable_path=path, args=args)
