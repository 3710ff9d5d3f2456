"""The page of `kaobot web` in a real headless Chromium (Debian's), driven by Playwright.

The server is started as the README says (`kaobot web` with its own data dir and
`KAOBOT_WEB_TOKEN`), once for the module, with Alice enrolled through `POST /api/enroll`. One
browser serves every test; each test has its own context (so its own sessionStorage).

Skipped when Chromium or Playwright is missing, unless `KAOBOT_REQUIRE_BROWSER=1` (CI): then it fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from .conftest import example

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("KAOBOT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TOKEN = "page-test-" + uuid.uuid4().hex
SCREENSHOT = ROOT / "docs" / "web.png"


def _no_browser(reason: str):
    if os.environ.get("KAOBOT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"KAOBOT_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


# -- the server ---------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _multipart(fields: dict[str, str], image: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="p.png"\r\n'
        "Content-Type: image/png\r\n\r\n".encode()
        + image
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class Server:
    def __init__(self, url: str) -> None:
        self.url = url

    def call(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def enroll(self, name: str, picture: str, token: str = TOKEN, **fields):
        body, ctype = _multipart({"name": name, **fields}, example(picture))
        return self.call("POST", "/api/enroll", body, {"Content-Type": ctype, "Authorization": f"Bearer {token}"})

    def whois(self, image: bytes):
        body, ctype = _multipart({}, image)
        return self.call("POST", "/api/whois", body, {"Content-Type": ctype})

    def characters(self) -> dict[str, int]:
        status, body = self.call("GET", "/api/characters")
        assert status == 200
        return {c["name"]: c["faces"] for c in body["characters"]}


@contextlib.contextmanager
def _serve(data: Path, config: Path | None = None):
    """`kaobot web` on a free port with its own data dir (and `config`), Alice enrolled; stopped after.
    Its whole log must not hold the token, and it must exit cleanly."""
    port = _free_port()
    env = dict(os.environ, KAOBOT_WEB_TOKEN=TOKEN, PYTHONUNBUFFERED="1")
    env.pop("KAOBOT_CONFIG", None)
    command = [sys.executable, "-m", "tools.cli", "web", "--data-dir", str(data), "--port", str(port)]
    if config is not None:
        command += ["--config", str(config)]
    log = open(data / "server.log", "w+b")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    srv = Server(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if srv.call("GET", "/api/health")[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"kaobot web did not start:\n{log.read().decode(errors='replace')}")
            time.sleep(0.3)
        assert srv.enroll("Alice", "alice.png")[0] == 201
        yield srv
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.seek(0)
        output = log.read().decode(errors="replace")
        log.close()
        assert TOKEN not in output  # the token is never logged
        assert proc.returncode == 0, output


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The server with the built-in settings (so its scope keeps no unknown faces)."""
    with _serve(tmp_path_factory.mktemp("web-data")) as srv:
        yield srv


@pytest.fixture(scope="module")
def unknowns_server(tmp_path_factory):
    """A server whose scope (the default, `global`) keeps the faces it answers "unknown"."""
    data = tmp_path_factory.mktemp("web-unknowns")
    config = data / "config.yaml"
    config.write_text("review:\n  unknowns: [global]\n  unknowns_min_count: 3\n", encoding="utf-8")
    with _serve(data, config) as srv:
        yield srv


# -- the browser --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        _no_browser(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _no_browser("playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


class Page:
    """A page of a fresh browser context, recording console errors, page errors and dialogs."""

    def __init__(self, browser, server: Server, width: int = 1000, height: int = 800) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.alerts: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.page.on("dialog", lambda d: (self.alerts.append(d.message), d.dismiss()))
        self.page.goto(server.url + "/")
        self.page.wait_for_selector("#health:not(:empty)")

    def tab(self, name: str) -> None:
        self.page.click(f"#tab-{name}")
        self.page.wait_for_selector(f"#view-{name}:not([hidden])")

    def give_token(self, token: str = TOKEN) -> None:
        self.page.wait_for_selector("#token-dialog[open]")
        self.page.fill("#token-input", token)
        self.page.click("#token-ok")

    def status(self, view: str, kind: str = "ok") -> str:
        self.page.wait_for_selector(f"#{view}-status.{kind}")
        return self.page.text_content(f"#{view}-status")

    def clear(self, view: str) -> None:
        """Empty a view's status line, so that the next wait sees the next answer, not the last one."""
        self.page.eval_on_selector(f"#{view}-status", "e => { e.textContent = ''; e.className = 'status'; }")

    def recognise(self, picture: str) -> list[str]:
        return self.recognise_file(_file(picture))

    def recognise_file(self, file: dict) -> list[str]:
        self.tab("recognise")
        self.clear("recognise")
        self.page.set_input_files("#recognise-file", files=[file])
        self.status("recognise")
        return [t.strip() for t in self.page.locator("#recognise-faces > li").all_inner_texts()]

    def close(self) -> None:
        self.context.close()


def _file(picture: str) -> dict:
    data = _carla() if picture == "carla.png" else example(picture)
    return {"name": picture, "mimeType": "image/png", "buffer": data}


def _carla() -> bytes:
    """A third character (drawn), so that a test enrolling her changes no other test's answer."""
    from tests.conftest import CARLA, png

    return png([(200, 200, 170, CARLA)])


@pytest.fixture
def page(browser, server):
    p = Page(browser, server)
    yield p
    p.close()


def _serious(axe_response: dict) -> list[str]:
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']]}"
        for v in axe_response["violations"]
        if v["impact"] in {"serious", "critical"}
    ]


# -- the tests ------------------------------------------------------------------------------------
def test_recognise_a_picture_from_the_landing_view(page):
    assert page.page.is_visible("#view-recognise") and not page.page.is_visible("#view-enrol")
    faces = page.recognise("pair.png")
    assert len(faces) == 2
    assert faces[0].startswith("Alice — similarity 0.9")
    assert faces[1].startswith("unknown")
    assert "Alice (" in faces[1]  # the top-k candidates
    assert page.page.eval_on_selector("#recognise-canvas", "c => [c.width, c.height]") == [700, 400]
    assert "2 face(s), 1 recognised" in page.status("recognise")
    assert page.errors == [] and page.alerts == []
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.page.screenshot(path=str(SCREENSHOT), full_page=True)


def test_enrol_asks_for_the_token_once(page, server):
    page.tab("enrol")
    page.page.fill("#enrol-name", "Bella")
    page.page.set_input_files("#enrol-file", files=[_file("pair.png")])
    page.page.click("#enrol-submit")
    page.page.wait_for_selector("#enrol-pick:not([hidden])")
    assert page.page.locator("#enrol-buttons button").all_inner_texts() == ["Face 1 (now: Alice)", "Face 2"]
    # Click the right-hand face on the picture itself.
    box = page.page.locator("#enrol-canvas").bounding_box()
    page.page.mouse.click(box["x"] + box["width"] * (520 / 700), box["y"] + box["height"] * (235 / 400))
    page.give_token()
    assert page.status("enrol") == "Enrolled face 2 of 2 for Bella."
    assert server.characters()["Bella"] == 1
    assert page.page.evaluate("sessionStorage.getItem('kaobot-web-token')") == TOKEN
    assert page.page.evaluate("localStorage.length") == 0
    # A second change does not ask again.
    page.clear("enrol")
    page.page.fill("#enrol-name", "Bella")
    page.page.set_input_files("#enrol-file", files=[_file("bella.png")])
    page.page.click("#enrol-submit")
    assert page.status("enrol") == "Enrolled face 1 of 1 for Bella."
    assert not page.page.is_visible("#token-dialog")
    assert server.characters()["Bella"] == 2
    assert page.recognise("bella.png")[0].startswith("Bella")
    assert page.errors == [] and page.alerts == []


def test_a_wrong_token_is_refused_and_forgotten(page, server):
    before = server.characters()
    page.tab("enrol")
    page.page.fill("#enrol-name", "Mallory")
    page.page.set_input_files("#enrol-file", files=[_file("alice-2.png")])
    page.page.click("#enrol-submit")
    page.give_token("not-the-token")
    assert page.status("enrol", "error") == "the web token is wrong"
    assert page.page.evaluate("sessionStorage.getItem('kaobot-web-token')") is None
    assert server.characters() == before
    assert all("status of 403" in e for e in page.errors), page.errors  # only the refused request itself


def test_remove_one_face_in_characters(page, server):
    assert server.enroll("Dora", "alice.png")[0] == 201
    assert server.enroll("Dora", "alice-2.png")[0] == 201
    page.tab("characters")
    card = page.page.locator("#characters-list > li", has=page.page.locator("h3", has_text="Dora"))
    assert "2 faces" in card.inner_text()
    card.locator("summary").click()
    card.locator(".thumbs img").nth(1).wait_for()
    assert card.locator(".thumbs img").count() == 2
    assert all(card.locator(".thumbs img").evaluate_all("imgs => imgs.map(i => i.complete && i.naturalWidth > 0)"))
    card.get_by_role("button", name="Remove face 2 of Dora").click()
    page.page.wait_for_selector("#confirm-dialog[open]")
    assert page.page.text_content("#confirm-text") == "Remove face 2 of Dora?"
    page.clear("characters")
    page.page.click("#confirm-ok")
    page.give_token()
    assert page.status("characters") == "Removed face 2 of Dora."
    assert server.characters()["Dora"] == 1
    card = page.page.locator("#characters-list > li", has=page.page.locator("h3", has_text="Dora"))
    assert "1 face" in card.inner_text()
    # Rename, then forget with the confirmation.
    page.clear("characters")
    card.get_by_label("New name for Dora").fill("Dorothy")
    card.get_by_role("button", name="Rename").click()
    assert page.status("characters") == "Renamed Dora to Dorothy."
    card = page.page.locator("#characters-list > li", has=page.page.locator("h3", has_text="Dorothy"))
    page.clear("characters")
    card.get_by_role("button", name="Forget Dorothy").click()
    page.page.click("#confirm-ok")
    assert page.status("characters") == "Forgot Dorothy (1 face(s))."
    assert "Dorothy" not in server.characters() and "Dora" not in server.characters()
    assert page.errors == [] and page.alerts == []


def test_a_script_name_shows_as_text(page, server):
    name = "<img src=x onerror=alert(1)>"
    assert server.enroll(name, "alice-2.png")[0] == 201
    faces = page.recognise("alice-2.png")
    assert any(name in f for f in faces)  # as a name or a candidate, in plain text
    page.tab("characters")
    heading = page.page.locator("#characters-list h3", has_text=name)
    heading.wait_for()
    assert heading.text_content() == name
    card = page.page.locator("#characters-list > li", has=page.page.locator("h3", has_text=name))
    card.locator("summary").click()
    card.locator(".thumbs img").first.wait_for()
    assert page.page.locator("img[src='x']").count() == 0
    assert page.page.evaluate("document.querySelectorAll('[onerror]').length") == 0
    assert page.alerts == [] and page.errors == []
    status, _ = server.call(
        "DELETE", "/api/characters/" + urllib.request.quote(name, safe=""), headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert status == 200


def test_keyboard_only_enrolment(page, server):
    p = page.page
    p.focus("#tab-recognise")
    p.keyboard.press("ArrowRight")
    assert p.evaluate("document.activeElement.id") == "tab-enrol" and p.is_visible("#view-enrol")
    p.keyboard.press("Tab")
    assert p.evaluate("document.activeElement.id") == "enrol-name"
    p.keyboard.type("Erin")
    p.keyboard.press("Tab")
    assert p.evaluate("document.activeElement.id") == "enrol-file"
    p.set_input_files("#enrol-file", files=[_file("carla.png")])  # the file chooser itself is the system's
    p.focus("#enrol-file")
    p.keyboard.press("Tab")
    assert p.evaluate("document.activeElement.id") == "enrol-submit"
    p.keyboard.press("Enter")
    p.wait_for_selector("#token-dialog[open]")
    assert p.evaluate("document.activeElement.id") == "token-input"
    p.keyboard.type(TOKEN)
    p.keyboard.press("Enter")
    assert page.status("enrol") == "Enrolled face 1 of 1 for Erin."
    assert server.characters()["Erin"] == 1
    p.focus("#tab-enrol")
    p.keyboard.press("ArrowRight")
    assert p.evaluate("document.activeElement.id") == "tab-characters" and p.is_visible("#view-characters")
    p.keyboard.press("Home")
    assert p.is_visible("#view-recognise")
    assert page.errors == []


def test_every_control_has_a_label(page):
    for tab in ("recognise", "enrol", "characters"):
        page.tab(tab)
        page.page.wait_for_timeout(200)
        unnamed = page.page.evaluate(
            """() => [...document.querySelectorAll('button, input, select, textarea, summary')]
                 .filter(e => e.checkVisibility())
                 .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim())
                 .map(e => e.outerHTML.slice(0, 80))"""
        )
        assert unnamed == [], tab


def test_the_layout_holds_at_a_phone_width(browser, server):
    phone = Page(browser, server, width=375, height=740)
    try:
        p = phone.page
        faces = phone.recognise("pair.png")
        assert faces[0].startswith("Alice")
        for tab in ("recognise", "enrol", "characters"):
            phone.tab(tab)
            p.wait_for_timeout(200)
            assert p.evaluate("document.documentElement.scrollWidth") <= 375, tab
        phone.tab("recognise")
        assert p.locator("#recognise-canvas").bounding_box()["width"] <= 375
        phone.tab("characters")
        card = p.locator("#characters-list > li", has=p.locator("h3", has_text="Alice")).first
        card.locator("summary").click()
        card.locator(".thumbs img").first.wait_for()
        assert p.evaluate("document.documentElement.scrollWidth") <= 375
        assert phone.errors == []
    finally:
        phone.close()


def test_axe_finds_no_serious_violation_on_any_tab(page):
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    found = {}
    page.recognise("pair.png")
    found["recognise"] = _serious(axe.run(page.page).response)
    page.tab("enrol")
    page.page.fill("#enrol-name", "Someone")
    page.page.set_input_files("#enrol-file", files=[_file("pair.png")])
    page.page.click("#enrol-submit")
    page.page.wait_for_selector("#enrol-pick:not([hidden])")  # with the face picker shown
    found["enrol"] = _serious(axe.run(page.page).response)
    page.tab("characters")
    card = page.page.locator("#characters-list > li").first
    card.locator("summary").click()
    card.locator(".thumbs img").first.wait_for()
    found["characters"] = _serious(axe.run(page.page).response)
    assert found == {"recognise": [], "enrol": [], "characters": []}
    assert page.errors == []


@pytest.mark.parametrize("how", ["drop", "paste"])
def test_a_picture_can_be_dropped_or_pasted(page, how):
    import base64

    script = """([how, b64]) => {
        const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], "pair.png", { type: "image/png" }));
        if (how === "drop") {
            const zone = document.getElementById("recognise-form");
            zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: transfer, bubbles: true, cancelable: true }));
            zone.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
        } else {
            document.body.dispatchEvent(new ClipboardEvent("paste", { clipboardData: transfer, bubbles: true, cancelable: true }));
        }
    }"""
    page.clear("recognise")
    page.page.evaluate(script, [how, base64.b64encode(example("pair.png")).decode()])
    page.status("recognise")
    faces = page.page.locator("#recognise-faces > li").all_inner_texts()
    assert len(faces) == 2 and faces[0].startswith("Alice")
    assert page.page.evaluate("document.getElementById('recognise-file').files[0].name") == "pair.png"
    assert page.errors == []


# -- corrections (issue 16): suggest in Recognise, decide in Review --------------------------------
def _drawn(name: str, style) -> dict:
    from tests.conftest import png

    return {"name": name, "mimeType": "image/png", "buffer": png([(200, 200, 170, style)])}


def _suggest(page: Page, picture: dict, name: str) -> str:
    """Recognise `picture` and suggest `name` for its face through "Correct a name"."""
    p = page.page
    page.tab("recognise")
    page.clear("recognise")
    p.set_input_files("#recognise-file", files=[picture])
    page.status("recognise")
    page.clear("recognise")
    p.get_by_role("button", name="Correct the name of face 1").click()
    p.get_by_label("Who is face 1?").fill(name)
    p.get_by_role("button", name="Suggest").click()
    return page.status("recognise")


def test_a_suggestion_is_approved_in_the_review_tab(page, server):
    from axe_playwright_python.sync_playwright import Axe

    from training.drawing import CharacterStyle

    p = page.page
    fumi = _drawn(
        "fumi.png", CharacterStyle(hair=(40, 150, 90), eyes=(200, 120, 30), twintails=True, glasses=(30, 30, 30))
    )
    assert _suggest(page, fumi, "Fumi") == "Thanks: “Fumi” for face 1 waits for review."
    assert not p.is_visible("#token-dialog")  # anyone may suggest: no token asked
    assert "suggested: Fumi" in p.locator("#recognise-faces > li").first.inner_text()
    assert "Fumi" not in server.characters()  # a suggestion enrols nothing

    page.tab("review")
    page.give_token()
    assert "waiting" in page.status("review")
    card = p.locator("#review-list > li", has=p.locator("h3", has_text="Fumi"))
    card.wait_for()
    assert "kaobot said" in card.inner_text() and "Best match now" in card.inner_text()
    assert not card.get_by_label("Enrol the face suggested as Fumi as").is_visible()  # until "Approve as…"
    p.wait_for_function(
        "() => [...document.querySelectorAll('#review-list img')].every(i => i.complete && i.naturalWidth > 0)"
    )  # the crops, fetched with the token, pass the page's CSP
    assert _serious(Axe().run(p).response) == []
    p.screenshot(path=str(ROOT / "docs" / "web-review.png"), full_page=True)

    page.clear("review")
    card.get_by_role("button", name="Approve Fumi", exact=True).click()
    assert page.status("review").startswith("Approved: the face is enrolled as Fumi.")
    assert p.locator("#review-list h3", has_text="Fumi").count() == 0
    assert server.characters()["Fumi"] == 1

    page.tab("characters")
    fumi_card = p.locator("#characters-list > li", has=p.locator("h3", has_text="Fumi"))
    fumi_card.wait_for()
    assert "1 face" in fumi_card.inner_text()
    assert page.errors == [] and page.alerts == []


def test_review_by_keyboard_approve_as_and_reject(page, server):
    from training.drawing import CharacterStyle

    p = page.page
    gina = _drawn("gina.png", CharacterStyle(hair=(120, 80, 40), eyes=(30, 90, 200), ahoge=True, hair_length=0.4))
    hana = _drawn("hana.png", CharacterStyle(hair=(250, 250, 250), eyes=(200, 30, 120), bangs=5, ribbon=(30, 30, 220)))
    assert "waits for review" in _suggest(page, gina, "Gna")
    assert "waits for review" in _suggest(page, hana, "Not Hana")

    page.tab("characters")
    p.focus("#tab-characters")
    p.keyboard.press("ArrowRight")  # to Review, whose first load asks for the token
    assert p.evaluate("document.activeElement.id") in {"tab-review", "token-input"}
    page.give_token()
    page.status("review")
    gna = p.locator("#review-list > li", has=p.locator("h3", has_text="Gna"))
    field = gna.get_by_label("Enrol the face suggested as Gna as")
    assert not field.is_visible()
    gna.get_by_role("button", name="Approve Gna as another name").focus()
    p.keyboard.press("Enter")
    assert field.is_visible()
    assert p.evaluate("document.activeElement.id").startswith("approve-as-")
    p.keyboard.press("Control+A")
    p.keyboard.type("Gina")
    page.clear("review")
    p.keyboard.press("Enter")
    assert page.status("review").startswith("Approved: the face is enrolled as Gina.")

    page.clear("review")
    p.locator("#review-list > li", has=p.locator("h3", has_text="Not Hana")).get_by_role(
        "button", name="Reject Not Hana"
    ).press("Enter")
    assert page.status("review").startswith("Rejected “Not Hana”.")
    names = server.characters()
    assert names.get("Gina") == 1 and "Gna" not in names and "Not Hana" not in names
    unnamed = p.evaluate(
        """() => [...document.querySelectorAll('#view-review button, #view-review input, #view-review img')]
             .filter(e => e.checkVisibility())
             .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                          && !e.getAttribute('alt') && !e.textContent.trim())
             .map(e => e.outerHTML.slice(0, 80))"""
    )
    assert unnamed == []
    assert page.errors == [] and page.alerts == []


# -- unknowns worth enrolling (review.unknowns): "this face came back N times: who is it?" ---------
IRIS_LAYOUTS = [  # (x, y, radius), picture size, background: the same character in other pictures
    ((200, 200, 170), (420, 400), (235, 235, 235)),
    ((230, 190, 150), (460, 380), (210, 230, 245)),
    ((180, 210, 160), (400, 420), (245, 230, 210)),
    ((210, 200, 180), (440, 400), (225, 240, 225)),
    ((220, 215, 165), (450, 430), (240, 240, 215)),
]


def _unknown_styles():
    from training.drawing import CharacterStyle

    iris = CharacterStyle(hair=(150, 40, 40), eyes=(40, 200, 200), hair_length=0.5, bangs=6, hairclip=(250, 220, 30))
    juno = CharacterStyle(
        hair=(30, 30, 30), eyes=(230, 150, 30), hair_length=1.0, bangs=2, glasses=(200, 30, 30), twintails=True
    )
    return iris, juno


def _pictures(style, n: int) -> list[bytes]:
    from tests.conftest import png

    return [png([(x, y, r, style)], size=size, background=bg) for (x, y, r), size, bg in IRIS_LAYOUTS[:n]]


def _wait_text(page: Page, selector: str) -> str:
    page.page.wait_for_selector(f"{selector}:not(:empty)")
    return page.page.text_content(selector)


def test_unknown_faces_are_named_or_dismissed_in_the_review_tab(browser, unknowns_server):
    from axe_playwright_python.sync_playwright import Axe

    server, iris, juno = unknowns_server, *_unknown_styles()
    page = Page(browser, server)
    p = page.page
    try:
        page.tab("review")
        page.give_token()
        assert page.status("review") == "No suggestion is waiting."
        assert _wait_text(page, "#unknowns-status") == "No unknown face has come back 3 times yet."

        # Faces answered "unknown" in Recognise: Iris in 4 pictures, Juno in 3, Iris once more (another picture).
        for style, n in ((iris, 4), (juno, 3)):
            for i, picture in enumerate(_pictures(style, n)):
                faces = page.recognise_file({"name": f"p{i}.png", "mimeType": "image/png", "buffer": picture})
                assert len(faces) == 1 and faces[0].startswith("unknown"), faces

        page.tab("review")
        assert page.status("unknowns") == "2 unknown faces keep coming back."
        cards = p.locator("#unknowns-list > li")
        assert cards.count() == 2
        assert cards.locator("h3").all_inner_texts() == [  # largest first
            "This face came back 4 times: who is it?",
            "This face came back 3 times: who is it?",
        ]
        first = cards.nth(0)
        for term in ("First seen", "Last seen", "Closest character now"):
            assert term in first.inner_text()
        assert "Alice (0." in first.inner_text()  # the gallery's closest, below the threshold
        p.wait_for_function(
            "() => [...document.querySelectorAll('#unknowns-list img')].every(i => i.complete && i.naturalWidth > 0)"
        )  # the crops, fetched with the token as blob: URLs
        assert _serious(Axe().run(p).response) == []
        p.screenshot(path=str(ROOT / "docs" / "web-unknowns.png"), full_page=True)
        p.set_viewport_size({"width": 375, "height": 740})  # a phone's width
        p.wait_for_timeout(200)
        assert p.evaluate("document.documentElement.scrollWidth") <= 375
        p.set_viewport_size({"width": 1000, "height": 800})

        # Name it…: a field (the scope's names offered), then every face of the cluster is enrolled.
        field = first.get_by_label("Who is the face that came back 4 times?")
        assert not field.is_visible()
        name_it = first.get_by_role("button", name="Name it…")
        name_it.click()
        assert name_it.get_attribute("aria-expanded") == "true" and field.is_visible()
        assert p.evaluate("document.activeElement.id") == field.get_attribute("id")
        assert field.get_attribute("list") == "character-names"
        p.wait_for_function("() => document.querySelector('#character-names option[value=Alice]') !== null")
        assert first.get_by_role("button", name="Enrol 4 faces").is_visible()
        unnamed = p.evaluate(
            """() => [...document.querySelectorAll('#unknowns-list button, #unknowns-list input, #unknowns-list img')]
                 .filter(e => e.checkVisibility())
                 .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                              && !e.getAttribute('alt') && !e.textContent.trim())
                 .map(e => e.outerHTML.slice(0, 80))"""
        )
        assert unnamed == []
        page.clear("unknowns")
        p.keyboard.type("Iris")  # in the focused field; Enter sends it
        p.keyboard.press("Enter")
        assert page.status("unknowns") == ("Enrolled 4 faces as Iris. 1 unknown face keeps coming back.")
        assert server.characters()["Iris"] == 4
        assert cards.locator("h3").all_inner_texts() == ["This face came back 3 times: who is it?"]
        picture = {"name": "iris.png", "mimeType": "image/png", "buffer": _pictures(iris, 5)[4]}
        assert page.recognise_file(picture)[0].startswith("Iris — similarity")  # a picture it never saw

        # Not a character: the faces are forgotten, nothing enrolled.
        page.tab("review")
        page.status("unknowns")
        page.clear("unknowns")
        cards.first.get_by_role("button", name="Not a character").click()
        assert page.status("unknowns") == (
            "Not a character: forgot 3 faces, enrolling none. No unknown face has come back 3 times yet."
        )
        assert cards.count() == 0
        assert set(server.characters()) == {"Alice", "Iris"}
        status, body = server.call("GET", "/api/unknowns", headers={"Authorization": f"Bearer {TOKEN}"})
        assert status == 200 and body["clusters"] == []
        assert page.errors == [] and page.alerts == []
    finally:
        page.close()


def test_unknowns_errors_are_said_in_the_review_tab(browser, unknowns_server):
    server, _, juno = unknowns_server, *_unknown_styles()
    for picture in _pictures(juno, 3):  # posted by someone else (the API)
        assert server.whois(picture)[0] == 200
    page = Page(browser, server)
    p = page.page
    try:
        # A wrong token: said once, in Review's status; no cluster shown.
        page.tab("review")
        page.give_token("not-the-token")
        assert page.status("review", "error") == "the web token is wrong"
        assert p.locator("#unknowns-list > li").count() == 0 and p.text_content("#unknowns-status") == ""

        # The cluster changed since the page loaded (dismissed elsewhere): the server's 404, said.
        p.click("#review-reload")
        page.give_token()
        assert page.status("unknowns") == "1 unknown face keeps coming back."
        auth = {"Authorization": f"Bearer {TOKEN}"}
        (cluster,) = server.call("GET", "/api/unknowns", headers=auth)[1]["clusters"]
        assert server.call("POST", f"/api/unknowns/{cluster['id']}/dismiss", headers=auth) == (200, {"dismissed": 3})
        page.clear("unknowns")
        p.locator("#unknowns-list > li").first.get_by_role("button", name="Not a character").click()
        assert page.status("unknowns", "error") == f"no unknown face {cluster['id']!r} here"

        # A server error while listing: its message, not a blank list.
        p.route(
            "**/api/unknowns",
            lambda route: route.fulfill(
                status=503,
                content_type="application/json",
                headers={"Retry-After": "5"},
                body=json.dumps({"error": "the gallery is unavailable"}),
            ),
        )
        page.clear("unknowns")
        p.click("#review-reload")
        assert page.status("unknowns", "error") == "the gallery is unavailable (try again in 5 s)"
        assert p.locator("#unknowns-list > li").count() == 0
        assert all("status of 403" in e or "status of 404" in e or "status of 503" in e for e in page.errors), (
            page.errors
        )
    finally:
        page.close()


def test_the_review_tab_says_how_to_keep_unknown_faces(page):
    page.tab("review")
    page.give_token()
    text = _wait_text(page, "#unknowns-status")
    assert text == (
        "This scope does not keep the faces kaobot answers “unknown”, so none are offered here. To opt in, add"
        ' "global" (or "*" for every scope) to review.unknowns in config.yaml and restart kaobot web.'
    )
    assert page.page.locator("#unknowns-list > li").count() == 0
    assert page.errors == []
