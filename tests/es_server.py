"""Fixtures serving a local ES-API test server (`tools.noida_server.NoidaServer`)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tools.noida_server import NoidaServer


def _server(data_dir: Path) -> NoidaServer:
    """The server, or a skip where noida-db is missing (a failure when KAOBOT_REQUIRE_ES_TESTS is
    set, as in CI, so the Elasticsearch run can never be skipped silently there)."""
    try:
        return NoidaServer(data_dir)
    except FileNotFoundError as exc:
        if os.environ.get("KAOBOT_REQUIRE_ES_TESTS"):
            pytest.fail(f"{exc}, and KAOBOT_REQUIRE_ES_TESTS is set")
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def es_server(tmp_path_factory) -> NoidaServer:
    """One server for the whole session; tests isolate themselves by index names."""
    server = _server(tmp_path_factory.mktemp("noida"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def es_private_server(tmp_path) -> NoidaServer:
    """A server of the test's own, for tests that stop and restart it."""
    server = _server(tmp_path / "noida")
    server.start()
    yield server
    server.stop()
