"""Steps the browser tests share: walking the page's flows as a person would."""

from __future__ import annotations

from playwright.sync_api import Page, expect


def tid(name: str) -> str:
    return f"[data-testid={name}]"


def open_page(page: Page, base_url: str, route: str = "/", lang: str | None = None) -> None:
    query = f"?lang={lang}" if lang else ""
    page.goto(f"{base_url}/{query}#{route}")
    expect(page.locator("#page-title")).to_be_visible()


def pick_certificate(page: Page, token_label: str) -> None:
    """Chooses the certificate on the token with this label in the agent's list."""
    option = page.locator(f'{tid("cert-option")}[data-token-label="{token_label}"]')
    expect(option).to_be_visible()
    option.locator("input[type=radio]").check()


def usb_sign(page: Page, token_label: str, shot=None, name: str = "certificates") -> None:
    expect(page.locator(tid("cert-picker"))).to_be_visible()
    pick_certificate(page, token_label)
    if shot:
        shot(page, name)
    page.locator(tid("usb-sign")).click()


def start_registration(page: Page, base_url: str, kind: str, method: str, shot=None) -> None:
    """From the home page: Đăng ký → Công dân/Doanh nghiệp → USB/SIM ký số."""
    open_page(page, base_url, "/")
    page.locator(tid("home-register")).click()
    if shot:
        shot(page, "choose-type")
    page.locator(tid("choose-citizen" if kind == "citizen" else "choose-enterprise")).click()
    if shot:
        shot(page, "choose-method")
    page.locator(tid(f"method-{method}")).click()


def register_with_token(page: Page, base_url: str, token_label: str, kind: str = "citizen",
                        email: str | None = None, shot=None) -> str:
    """The whole USB registration; returns the new account id."""
    start_registration(page, base_url, kind, "usb", shot)
    usb_sign(page, token_label, shot)
    expect(page.locator(tid("preview"))).to_be_visible()
    if shot:
        shot(page, "preview")
    if email:
        page.locator(tid("email")).fill(email)
    page.locator(tid("register-submit")).click()
    expect(page.locator(tid("register-success"))).to_be_visible()
    if shot:
        shot(page, "registered")
    return page.locator(f'{tid("register-success")} {tid("account-id")}').inner_text()


def login_with_token(page: Page, base_url: str, token_label: str, shot=None) -> None:
    open_page(page, base_url, "/login")
    page.locator(tid("login-usb")).click()
    usb_sign(page, token_label, shot, "login-certificates")


def expect_error(page: Page, code: str, timeout: float | None = None):
    """The error panel with this raw code (waited for up to timeout ms, else the default);
    returns its locator."""
    box = page.locator(tid("error")).last
    expect(box).to_be_visible(timeout=timeout)
    expect(box.locator(tid("error-code"))).to_have_text(code)
    return box
