"""End-to-end fixtures (the machinery lives in e2e_harness.py).

`herald` is one running deployment per backend in BACKENDS, shared by the tests of a session; tests keep
apart by using their own accounts and receiver paths. `herald_factory` starts deployments with their own
settings. When a test fails, the tail of every live Herald log is attached to its report.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dashboard_client import launch_chromium
from e2e_harness import BACKENDS, LIVE_DEPLOYMENTS, Api, Herald, Receiver, deployment, unique


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


@pytest.fixture(scope="session", params=BACKENDS)
def herald(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Herald]:
    """The shared deployment of one backend."""
    with deployment(request.param, tmp_path_factory.mktemp(f"herald-{request.param}")) as h:
        yield h


@pytest.fixture
def api(herald: Herald) -> Api:
    return herald.api


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def herald_factory(tmp_path: Path) -> Iterator[Callable[..., Herald]]:
    """Start extra deployments with their own settings: `herald_factory(backend, workers=2, **env)`."""
    stack = contextlib.ExitStack()
    names = itertools.count()

    def start(backend: str, workers: int = 2, **env: str) -> Herald:
        return stack.enter_context(deployment(backend, tmp_path / f"deploy-{next(names)}", workers, **env))

    with stack:
        yield start


@pytest.fixture
def account() -> str:
    return unique("acct")


# ------------------------------------------------------------------------------- logs on test failure


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed and LIVE_DEPLOYMENTS:
        report.sections.append(("herald logs", "\n".join(h.logs() for h in LIVE_DEPLOYMENTS)))
    return report


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """The system Chromium driven by Playwright (modules using it carry `needs_chromium()`)."""
    from playwright import sync_api  # imported here: only the browser tests need it

    with sync_api.sync_playwright() as p:
        b = launch_chromium(p)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    try:
        yield pg
    finally:
        context.close()
