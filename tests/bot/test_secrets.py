"""Secrets never reach a log line, an error message or a user: the Elasticsearch password and API key
(server down, credentials rejected by a server that echoes them back) and the Discord token."""

from __future__ import annotations

import base64
import io
import logging
import traceback

import pytest
import yaml
from aiohttp import web

from bot.logs import REDACTED, secrets_to_redact, setup_logging
from recognition.errors import GalleryUnavailable
from recognition.gallery.elastic import API_KEY_ENV, PASSWORD_ENV, ElasticsearchGallery
from tests.gallery_backends import es_settings
from tools.noida_server import free_port

from .support import attachment, fake_interaction, invoke
from .test_outage import GALLERY_DOWN
from .test_runner import TOKEN, FakeDiscord

PASSWORD = "pa55-Never-Shown-0451"
API_KEY = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="
USER = "kaobot"
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def secret_forms(auth: str) -> list[str]:
    return [PASSWORD, BASIC] if auth == "password" else [API_KEY]


def set_credentials(monkeypatch: pytest.MonkeyPatch, auth: str) -> dict:
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    if auth == "password":
        monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
        return {"username": USER}
    monkeypatch.setenv(API_KEY_ENV, API_KEY)
    return {}


ECHOES = {
    "es-error": lambda auth: {  # Elasticsearch's shape, the header in the root cause's reason
        "error": {"root_cause": [{"type": "security_exception", "reason": f"cannot use [{auth}]"}], "type": "x"},
        "status": 401,
    },
    "text-error": lambda auth: {"error": f"unable to authenticate with [{auth}]", "status": 401},
    "proxy-page": lambda auth: f"<html>401 Unauthorized: {auth}</html>",
}


async def echoing_server(echo: str = "es-error") -> tuple[web.AppRunner, str, list[str]]:
    """An Elasticsearch stand-in that rejects every request and echoes its Authorization header in
    the error body, as some proxies and security realms do."""
    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        seen.append(auth)
        body = ECHOES[echo](auth)
        headers = {"X-Elastic-Product": "Elasticsearch"}
        if isinstance(body, str):
            return web.Response(text=body, status=401, content_type="text/html", headers=headers)
        return web.json_response(body, status=401, headers=headers)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}", seen


def verbose_bot_logging() -> io.StringIO:
    """The logging of `kaobot bot -v` (DEBUG), but with nothing to redact: what it writes shows
    what kaobot and its libraries log, before the formatter's last line of defence. (The transport's
    request/response dumps, `elastic_transport.node`, do not propagate to these handlers.)"""
    stream = io.StringIO()
    setup_logging([], logging.DEBUG, stream)
    return stream


@pytest.mark.parametrize("auth", ["password", "api_key"])
@pytest.mark.parametrize("situation", ["server down", *(f"rejected, {echo}" for echo in ECHOES)])
async def test_elasticsearch_credentials_never_in_errors_or_logs(monkeypatch, restore_logging, auth, situation):
    overrides = set_credentials(monkeypatch, auth)
    stream = verbose_bot_logging()
    runner = None
    if situation == "server down":
        url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    else:
        runner, url, seen = await echoing_server(situation.removeprefix("rejected, "))
    gallery = ElasticsearchGallery(es_settings(url, retries=1, retry_backoff=0.01, **overrides))
    try:
        with pytest.raises(GalleryUnavailable) as info:
            await gallery.count("g")
    finally:
        await gallery.close()
        if runner is not None:
            await runner.cleanup()
    if runner is not None:  # the credentials were sent, and came back in the error body
        assert seen and all(any(s in header for s in secret_forms(auth)) for header in seen)
        assert "refused the credentials" in str(info.value)
    else:
        assert "is unavailable" in str(info.value)
    logs = stream.getvalue()
    assert "elastic_transport.transport" in logs  # the requests were logged, without their bodies
    exc = info.value
    written = "\n".join([logs, str(exc), repr(exc), "".join(traceback.format_exception(exc))])
    for secret in secret_forms(auth):
        assert secret not in written


@pytest.mark.parametrize("auth", ["password", "api_key"])
async def test_bot_answers_and_logs_without_credentials_when_they_are_rejected(
    bots, cdn, monkeypatch, restore_logging, alice_png, auth
):
    overrides = set_credentials(monkeypatch, auth)
    stream = verbose_bot_logging()
    runner, url, _ = await echoing_server("text-error")
    try:
        bots.settings.gallery.backend = "elasticsearch"
        bots.settings.gallery.elasticsearch = es_settings(url, retries=0, **overrides)
        bot = await bots.start()
        fake = fake_interaction()
        await invoke(bot, bot.get_cog("Whois").whois, fake, attachment(cdn.put("a.png", alice_png)))
    finally:
        await runner.cleanup()
    (sent,) = fake.sent
    assert sent.ephemeral and sent.text == GALLERY_DOWN
    logs = stream.getvalue()
    assert "whois failed in guild" in logs and "refused the credentials" in logs
    for secret in secret_forms(auth):
        assert secret not in logs


def test_kaobot_bot_redacts_every_secret_it_holds(monkeypatch, tmp_path, capsys, restore_logging):
    """`kaobot bot` gives its log formatter the token and the Elasticsearch credentials in every
    form they travel in; a line that carries one shows `[redacted]`."""
    FakeDiscord(monkeypatch, valid_token="another-token-entirely")  # login refused: the bot stops at once
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    monkeypatch.setenv(API_KEY_ENV, API_KEY)
    config = tmp_path / "kaobot.yaml"
    config.write_text(yaml.safe_dump({"gallery": {"elasticsearch": {"username": USER}}}))
    from tools.cli import main

    assert main(["bot", "--config", str(config), "--data-dir", str(tmp_path / "data")]) == 1
    capsys.readouterr()
    (handler,) = logging.getLogger().handlers
    stream = io.StringIO()
    handler.setStream(stream)
    log = logging.getLogger("kaobot.test")
    log.warning("token %s password %s header Basic %s key %s", TOKEN, PASSWORD, BASIC, API_KEY)
    try:
        raise RuntimeError(f"ApiKey {API_KEY}")
    except RuntimeError:
        log.exception("request failed")
    out = stream.getvalue()
    assert out.count(REDACTED) == 5
    for secret in (TOKEN, PASSWORD, BASIC, API_KEY):
        assert secret not in out


def test_secrets_to_redact_reads_the_environment(monkeypatch):
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    assert secrets_to_redact(TOKEN, USER) == [TOKEN]
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    assert secrets_to_redact(TOKEN, None) == [TOKEN, PASSWORD]
    assert secrets_to_redact(TOKEN, USER) == [TOKEN, PASSWORD, BASIC]


async def test_discord_token_in_an_unexpected_error_is_logged_redacted_and_never_answered(
    kaobot, cdn, alice_png, monkeypatch, restore_logging
):
    """An unexpected error whose text carries the token (a library echoing a request): the user gets
    the generic answer, and the traceback in the log shows `[redacted]`."""
    stream = io.StringIO()
    setup_logging(secrets_to_redact(TOKEN), logging.INFO, stream)

    async def leaky(*args, **kwargs):
        raise RuntimeError(f"request failed with headers {{'Authorization': 'Bot {TOKEN}'}}")

    monkeypatch.setattr(kaobot.services.recognizer, "identify", leaky)
    fake = fake_interaction()
    await invoke(kaobot, kaobot.get_cog("Whois").whois, fake, attachment(cdn.put("a.png", alice_png)))
    (sent,) = fake.sent
    assert sent.text.startswith("Something went wrong on my side") and TOKEN not in sent.text
    out = stream.getvalue()
    assert "unexpected error in whois" in out and f"Bot {REDACTED}" in out and TOKEN not in out
