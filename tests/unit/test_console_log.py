"""The embedded console: after the banner, one short line per request and what a person must act on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.common.log import CONSOLE_OFF, bound, configure_logging, get_logger


@pytest.fixture
def console(capsys: pytest.CaptureFixture[str]) -> Iterator[None]:
    yield
    with capsys.disabled():  # log to the real stderr again, not to this test's capture (closed after it)
        configure_logging(json=False)


def _emit() -> None:
    log = get_logger("test")
    with bound(service="gateway"):
        log.info("http.request", method="GET", path="/cases", status=200, ms=12.5)
    with bound(service="contracts"):
        log.info("http.request", method="GET", path="/contracts", status=200, ms=3.0)
    log.info("message.handled", queue="cases", type="case.requested")
    log.info("rules.loaded", rules=34)
    log.warning("notice.links_not_public", links_url="http://127.0.0.1:8000")
    with bound(**CONSOLE_OFF):
        log.info("http.request", method="POST", path="/api/v1/clients", status=201, ms=9.0, service="gateway")


def test_the_brief_console_keeps_one_line_per_gateway_request_and_what_to_act_on(
        console: None, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json=False, console="brief")
    _emit()
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3, lines
    assert lines[0].endswith("GET /cases 200 12.5 ms")
    assert "rules.loaded" in lines[1]
    assert "notice.links_not_public" in lines[2]


def test_quiet_keeps_warnings_only_and_the_full_log_keeps_everything(
        console: None, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json=False, console="quiet")
    _emit()
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and "notice.links_not_public" in lines[0]
    configure_logging(json=False)  # everything, as `serve` and `run --verbose` log
    _emit()
    assert len(capsys.readouterr().err.splitlines()) == 6
