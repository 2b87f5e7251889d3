"""The page itself: language switch, keyboard use, the security headers it runs under."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from helpers import open_page, tid

pytestmark = pytest.mark.stack


def test_vietnamese_by_default_and_the_english_switch(page, base_url, shot):
    open_page(page, base_url, "/")
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    expect(page.locator("#page-title")).to_have_text("Tài khoản định danh mức độ cao")
    expect(page.locator(tid("lang-vi"))).to_have_attribute("aria-pressed", "true")
    shot(page, "vietnamese")

    page.locator(tid("home-register")).click()
    page.locator(tid("lang-en")).click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#page-title")).to_have_text("Register an account")
    expect(page.locator(tid("choose-citizen"))).to_contain_text("Citizen")
    expect(page.locator(tid("nav-login"))).to_have_text("Log in")
    expect(page).to_have_title(re.compile("Register with a digital signature"))
    shot(page, "english")

    # Remembered across reloads; ?lang=vi switches back and is remembered too.
    page.reload()
    expect(page.locator("#page-title")).to_have_text("Register an account")
    open_page(page, base_url, "/", lang="en")
    expect(page.locator("#page-title")).to_have_text("High-assurance identity account")
    expect(page.locator(tid("home-register"))).to_contain_text("Register an account")
    shot(page, "english-home")
    page.goto(f"{base_url}/?lang=vi#/register")
    expect(page.locator("#page-title")).to_have_text("Đăng ký tài khoản")
    page.goto(f"{base_url}/#/login")
    expect(page.locator("#page-title")).to_have_text("Đăng nhập")


def test_english_error_messages(page, base_url, agent_down, shot):
    open_page(page, base_url, "/register/citizen/usb", lang="en")
    box = page.locator(tid("error"))
    expect(box.locator(tid("error-title"))).to_have_text("The signing software cannot be reached")
    expect(box.locator(tid("error-retry"))).to_have_text("Try again")
    # Switching language keeps the error on screen, translated.
    page.locator(tid("lang-vi")).click()
    expect(box.locator(tid("error-title"))).to_have_text("Không kết nối được phần mềm ký số")
    shot(page, "error-switched-to-vietnamese")


def test_keyboard_only_registration_start(page, base_url):
    """Skip link first; choices and methods reachable with Tab and Enter; focus visible."""
    open_page(page, base_url, "/")
    page.keyboard.press("Tab")
    expect(page.locator(".skip-link")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#page-title")).to_be_focused()
    expect(page.locator("#page-title")).to_have_text("Tài khoản định danh mức độ cao")
    page.keyboard.press("Tab")
    expect(page.locator(tid("home-register"))).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#page-title")).to_be_focused()
    page.keyboard.press("Tab")
    for _ in range(12):
        if page.evaluate("document.activeElement.dataset.testid") == "choose-citizen":
            break
        page.keyboard.press("Tab")
    expect(page.locator(tid("choose-citizen"))).to_be_focused()
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "no visible focus outline"
    page.keyboard.press("Enter")
    expect(page.locator(tid("method-usb"))).to_be_visible()
    expect(page).to_have_url(re.compile(r"#/register/citizen$"))


def test_distinguished_names_are_read_like_rfc_4514(page, base_url):
    """format.js (as the gateway serves it) reads the gateway's DN strings: escaped commas,
    '+', \\XX UTF-8 bytes."""
    open_page(page, base_url, "/")
    dn, name, ca, org = page.evaluate(
        """async ([dn, escaped, ca, org]) => {
             const f = await import("/assets/format.js");
             return [f.parseDn(dn), f.dnValue(escaped, "cn"), f.caName(ca), f.caName(org)];
           }""",
        [
            r"CN=CÔNG TY TNHH ABC\, CHI NHÁNH HÀ NỘI,O=X+OU=Y,C=VN",
            r"CN=Nguy\E1\BB\85n V\C4\83n An,C=VN",
            "C=VN,O=VNPT Group (TEST),CN=VNPT Certification Authority (TEST)",
            "C=VN,O=Only Org",
        ],
    )
    assert dn == [["CN", "CÔNG TY TNHH ABC, CHI NHÁNH HÀ NỘI"], ["O", "X"], ["OU", "Y"], ["C", "VN"]]
    assert name == "Nguyễn Văn An"
    assert ca == "VNPT Certification Authority (TEST)"
    assert org == "Only Org"


def test_account_page_without_a_session(page, base_url):
    open_page(page, base_url, "/account")
    expect(page.locator(tid("not-logged-in"))).to_be_visible()
    page.evaluate("sessionStorage.setItem('kyso.session', JSON.stringify({token: 'forged', expires_at: '2999-01-01T00:00:00Z'}))")
    page.reload()
    box = page.locator(tid("error"))
    expect(box.locator(tid("error-code"))).to_have_text("UNAUTHENTICATED")
    expect(box.locator(tid("error-login"))).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('kyso.session')") is None


def test_routes_named_after_built_in_properties_are_not_found(page, base_url):
    """Views are looked up by their own names only: a route named after a property every
    object has is no view (it used to throw, or to run a flow with a nonsense type)."""
    for route in ["/constructor", "/hasOwnProperty", "/toString", "/register/__proto__/usb",
                  "/register/constructor/sim"]:
        open_page(page, base_url, route)
        expect(page.locator("#page-title")).to_have_text("Không tìm thấy trang")


def test_an_agent_that_never_answers_ends_in_an_error_not_a_spinner(page, base_url, stack):
    """Every call has a deadline: an agent that accepts the request and never answers
    (a hung process) is AGENT_UNREACHABLE after the agent's 15 s, with Retry."""
    page.route(f"{stack.agent.url}/v1/status", lambda route: None)
    open_page(page, base_url, "/register/citizen/usb")
    box = page.locator(tid("error"))
    expect(box.locator(tid("error-code"))).to_have_text("AGENT_UNREACHABLE", timeout=40_000)
    expect(box.locator(tid("error-retry"))).to_be_visible()


def test_a_gateway_that_never_sends_the_configuration_ends_in_retry(page, base_url):
    """The start-up calls have deadlines too: /config.json held for ever is NETWORK_ERROR
    with Retry once the gateway's minute is past (the page's clock run forward)."""
    page.clock.install()
    page.route("**/config.json", lambda route: None)
    page.goto(f"{base_url}/#/")
    expect(page.locator("body.ready")).to_have_count(1)
    page.clock.run_for(61_000)
    box = page.locator(tid("error"))
    expect(box.locator(tid("error-code"))).to_have_text("NETWORK_ERROR")
    expect(box.locator(tid("error-retry"))).to_be_visible()


def test_messages_that_never_arrive_end_in_the_reload_line(page, base_url):
    """The catalogue's fetch has the same deadline: without it the page said nothing."""
    page.clock.install()
    page.route("**/messages/vi.json", lambda route: None)
    page.goto(f"{base_url}/#/")
    page.wait_for_timeout(500)
    page.clock.run_for(61_000)
    expect(page.locator("#main")).to_contain_text("The page could not be loaded. Please reload.")


def test_a_page_opened_at_another_address_says_where_it_must_be_opened(page, base_url, stack):
    """The gateway's own address is not its public origin: the agent would sign for the
    wrong origin and the gateway refuse it, so the page says so and links the right one."""
    page.goto(f"{stack.gateway.url}/#/")
    notice = page.locator(tid("wrong-origin"))
    expect(notice).to_be_visible()
    expect(notice).to_contain_text(base_url)
    expect(page.locator(tid("wrong-origin-link"))).to_have_attribute("href", f"{base_url}/")
    # It stays above every view, and follows the language.
    page.locator(tid("nav-register")).click()
    expect(notice).to_be_visible()
    page.locator(tid("lang-en")).click()
    expect(notice).to_contain_text("must be opened at")
    # At the public origin there is nothing to say.
    open_page(page, base_url, "/")
    expect(page.locator(tid("wrong-origin"))).to_have_count(0)
