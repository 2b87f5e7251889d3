"""Fixtures for the registration page's browser tests (pytest + Playwright, Chromium).

The real programs run: the test PKI and SoftHSM tokens (kyso-certs, kyso-fixtures), the
MSSP simulator, the signing agent (PIN from a file) and the gateway (SQLite, revocation
off), which serves the page itself, behind a plain reverse proxy whose origin is the
gateway's public origin. One stack serves the whole session; tests use different test
persons so they do not depend on each other's accounts.

Nothing is skipped: without the binaries or Chromium the tests that need them fail,
saying what is missing.

Environment:
  KYSO_BIN_DIR           built binaries (default target/debug)
  KYSO_ARTEFACTS         screenshots and process logs (default tests/browser/artefacts)
  KYSO_BROWSER_FIXTURES  reuse this PKI + tokens folder (made there once) instead of a fresh one
  KYSO_BROWSER_BASE_URL  the page's base URL when something else serves it (default: the proxy)
  KYSO_CHROMIUM          Chromium executable (default /usr/bin/chromium)
  KYSO_HEADED=1          show the browser
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from stack import SIM_PIN, ReservedPort, Stack, bin_dir, missing_binaries  # noqa: E402
from playwright.sync_api import expect  # noqa: E402

# A busy two-core CI machine can take more than Playwright's 5 s default to show an
# answer; assertions wait as long as page actions do (set_default_timeout below).
expect.set_options(timeout=20_000)

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1024, "height": 768}
PHONE = {"width": 375, "height": 812}


# -- artefacts ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def artefacts_dir() -> Path:
    path = Path(os.environ.get("KYSO_ARTEFACTS") or HERE / "artefacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def shot(request, artefacts_dir):
    """shot(page, "step-name"): a full-page PNG, numbered per test, one image pixel per CSS
    pixel (1024 px wide on the desktop, 375 on the phone)."""
    folder = artefacts_dir / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    counter = {"n": 0}

    def take(page, name: str) -> Path:
        counter["n"] += 1
        path = folder / f"{counter['n']:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True, scale="css", animations="disabled", caret="hide")
        return path

    return take


# -- the real programs ----------------------------------------------------------------


@pytest.fixture(scope="session")
def stack(tmp_path_factory, artefacts_dir):
    missing = missing_binaries()
    if missing:
        pytest.fail(f"not built in {bin_dir()}: {', '.join(missing)} "
                    "(cargo build --workspace --bins, or set KYSO_BIN_DIR)", pytrace=False)
    workdir = tmp_path_factory.mktemp("kyso-stack")
    fixtures = os.environ.get("KYSO_BROWSER_FIXTURES")
    logs = artefacts_dir / "logs"
    logs.mkdir(exist_ok=True)
    for old in logs.glob("*.log"):
        old.unlink()
    s = Stack(workdir, Path(fixtures) if fixtures else None, log_dir=logs)
    try:
        s.start_all()
    except Exception:
        s.stop()
        raise
    yield s
    s.stop()


@pytest.fixture(scope="session")
def base_url(stack) -> str:
    """Where the page is served (the proxy in front of the gateway); the gateway's public
    origin is this origin."""
    return (os.environ.get("KYSO_BROWSER_BASE_URL") or stack.proxy.url).rstrip("/")


@pytest.fixture(scope="session")
def sim_url(stack) -> str:
    return stack.sim.url


@pytest.fixture
def agent_down(stack):
    """While the test runs, the gateway's [web] agent_url names a loopback port where no
    agent listens (a ReservedPort: connections are refused, and an agent may still be
    started there with listen=agent_down.address). The gateway restarts for it, and again
    afterwards to name the main agent."""
    port = ReservedPort()
    try:
        stack.use_agent(port.url)
        yield port
    finally:
        port.close()
        stack.use_agent(stack.agent.url)


@pytest.fixture
def swap_agent(stack):
    """swap_agent(**start_agent options): starts another agent for the page's origin and
    makes it the gateway's [web] agent_url while the test runs (restarting the gateway)."""
    started = []

    def start(**options):
        agent = stack.start_agent(stack.origin, name=f"kyso-shim-{len(started) + 1}", **options)
        started.append(agent)
        stack.use_agent(agent.url)
        return agent

    yield start
    stack.use_agent(stack.agent.url)
    for agent in started:
        stack.stop_process(agent)


# -- the browser ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    executable = os.environ.get("KYSO_CHROMIUM", "/usr/bin/chromium")
    if not Path(executable).exists():
        pytest.fail(f"Chromium not found at {executable} (apt-get install -y chromium, or set KYSO_CHROMIUM)",
                    pytrace=False)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, headless=os.environ.get("KYSO_HEADED") != "1",
                              args=CHROMIUM_ARGS)
        yield b
        b.close()


class PageWatch:
    """Collects what the page complains about: CSP violations and uncaught errors."""

    def __init__(self):
        self.csp: list[str] = []
        self.errors: list[str] = []

    def attach(self, page):
        def on_console(message):
            text = message.text
            if "Content Security Policy" in text or "Content-Security-Policy" in text:
                self.csp.append(text)

        page.on("console", on_console)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        return page


@pytest.fixture
def new_page(browser):
    """new_page(viewport=DESKTOP|PHONE, lang=None): a page in a fresh context (own storage).
    At the end the test fails if any page broke the Content-Security-Policy or threw."""
    contexts = []
    watches = []

    def make(viewport=DESKTOP, mobile=False):
        options = {"viewport": viewport, "locale": "vi-VN"}
        if mobile:
            options.update(is_mobile=True, has_touch=True, device_scale_factor=2)
        context = browser.new_context(**options)
        context.set_default_timeout(20_000)
        contexts.append(context)
        watch = PageWatch()
        watches.append(watch)
        return watch.attach(context.new_page())

    yield make
    for c in contexts:
        c.close()
    for w in watches:
        assert not w.csp, f"Content-Security-Policy violations: {w.csp}"
        assert not w.errors, f"uncaught page errors: {w.errors}"


@pytest.fixture
def page(new_page):
    return new_page(DESKTOP)


@pytest.fixture
def phone_page(new_page):
    return new_page(PHONE, mobile=True)


# -- the simulated phone --------------------------------------------------------------


class Phone:
    """The MSSP simulator's device API: what a signing-SIM phone shows and answers."""

    def __init__(self, sim_url: str, msisdn: str):
        self.base = f"{sim_url}/device/v1/{urllib.parse.quote(msisdn, safe='')}/requests"
        self.page_url = f"{sim_url}/phone/{urllib.parse.quote(msisdn, safe='')}"

    def pending(self, timeout: float = 15) -> dict:
        end = time.time() + timeout
        while time.time() < end:
            with urllib.request.urlopen(self.base, timeout=10) as r:
                items = json.load(r)
            if items:
                return items[0]
            time.sleep(0.2)
        raise AssertionError(f"no signing request reached {self.base} in {timeout}s")

    def confirm(self, request_id: str, pin: str = SIM_PIN) -> dict:
        req = urllib.request.Request(
            f"{self.base}/{urllib.parse.quote(request_id, safe='')}/confirm",
            data=json.dumps({"pin": pin}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:
            return json.load(e)


@pytest.fixture
def phone(sim_url):
    """phone("+84912000001") → Phone for that number."""
    return lambda msisdn: Phone(sim_url, msisdn)
