"""Registration and login with a USB signing token (SoftHSM behind the real agent)."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from helpers import expect_error, login_with_token, open_page, register_with_token, start_registration, tid, usb_sign

pytestmark = pytest.mark.stack


def test_citizen_registers_with_token_and_reaches_the_account_page(page, base_url, shot):
    """Citizen, USB: the agent's status and certificates, the preview (CCCD, name, the
    CMND alias), registration, then login with the same token and the account page."""
    start_registration(page, base_url, "citizen", "usb", shot)
    expect(page.locator(tid("agent-version"))).to_contain_text("0.")
    expect(page.locator(tid("token-count"))).to_contain_text(re.compile(r"\d+"))
    usb_sign(page, "citizen-cmnd-cccd", shot)

    preview = page.locator(tid("preview"))
    expect(preview).to_be_visible()
    expect(page.locator(tid("preview-name"))).to_have_text("Võ Thị Hồng Nhung")
    expect(page.locator(tid("preview-cccd"))).to_have_text("079195001234")
    expect(page.locator(tid("preview-alias-cmnd"))).to_contain_text("025123456")
    expect(page.locator(tid("preview-type"))).to_have_text("Công dân")
    expect(page.locator(tid("preview-ial"))).to_contain_text("IAL3")
    expect(page.locator(tid("preview-ca"))).to_have_text("Viettel-CA (TEST)")
    expect(preview).to_contain_text("Kiểm tra thông tin đăng ký")
    shot(page, "preview")

    page.locator(tid("register-submit")).click()
    success = page.locator(tid("register-success"))
    expect(success).to_be_visible()
    expect(success).to_contain_text("Đăng ký thành công")
    account_id = success.locator(tid("account-id")).inner_text()
    assert account_id.strip() and account_id != "—"
    shot(page, "registered")

    page.locator(tid("go-login")).click()
    usb_sign(page, "citizen-cmnd-cccd", shot, "login-certificates")
    account = page.locator(tid("account"))
    expect(account).to_be_visible()
    expect(page.locator(tid("account-identifier"))).to_have_text("079195001234")
    expect(page.locator(tid("account-name"))).to_have_text("Võ Thị Hồng Nhung")
    expect(page.locator(tid("account-ial"))).to_contain_text("IAL3")
    expect(page.locator(f'{tid("account")} {tid("account-id")}')).to_have_text(account_id)
    expect(page.locator(tid("nav-account"))).to_be_visible()
    shot(page, "account")


def test_pin_is_never_asked_on_the_page(page, base_url, shot):
    """While the agent signs, the page says to type the PIN into the agent's window and
    has no password field of its own."""
    start_registration(page, base_url, "citizen", "usb")
    # Hold the agent's answer so the prompt stays on screen long enough to see.
    release = []

    def hold(route):
        release.append(route)

    page.route("**/v1/authenticate", hold)
    usb_sign(page, "citizen-cmnd")
    prompt = page.locator(tid("pin-prompt"))
    expect(prompt).to_be_visible()
    expect(page.locator(tid("pin-title"))).to_have_text("Nhập mã PIN trên cửa sổ của phần mềm ký số")
    # Said out loud too, as every step is.
    expect(page.locator(tid("live"))).to_contain_text("Nhập mã PIN trên cửa sổ của phần mềm ký số")
    assert page.locator("input[type=password]").count() == 0
    shot(page, "pin-prompt")
    page.wait_for_timeout(200)
    for r in release:
        r.continue_()
    page.unroute("**/v1/authenticate")
    expect(page.locator(tid("preview"))).to_be_visible()
    expect(page.locator(tid("preview-cmnd"))).to_have_text("012345678")


def test_a_certificate_without_a_name_says_so_in_the_language_shown(page, base_url):
    """A certificate with no identity and no CN is listed as "(no name)", in the language
    the person switches to."""
    def nameless(route):
        response = route.fetch()
        listed = response.json()
        for c in listed["certificates"]:
            if (c.get("token") or {}).get("label") == "citizen-cmnd":
                c["subject"] = None
                c["certificate"]["subject"] = "O=Không tên"
        route.fulfill(response=response, json=listed)

    page.route("**/v1/certificates", nameless)
    start_registration(page, base_url, "citizen", "usb")
    expect(page.locator(tid("cert-picker"))).to_be_visible()
    names = page.locator(tid("cert-name"))
    expect(names.filter(has_text="(không có tên)")).to_have_count(1)
    page.locator(tid("lang-en")).click()
    expect(names.filter(has_text="(no name)")).to_have_count(1)


def test_enterprise_needs_an_email(page, base_url, shot):
    """Enterprise, USB: the preview shows name, MST, validity and CA; registering without
    an email is refused with EMAIL_REQUIRED, and accepted once an email is given."""
    start_registration(page, base_url, "enterprise", "usb", shot)
    usb_sign(page, "enterprise-mst", shot)
    expect(page.locator(tid("preview"))).to_be_visible()
    expect(page.locator(tid("preview-org-name"))).to_have_text("CÔNG TY CỔ PHẦN KYSO THỬ NGHIỆM")
    expect(page.locator(tid("preview-mst"))).to_have_text("0100112437")
    expect(page.locator(tid("preview-type"))).to_have_text("Doanh nghiệp / tổ chức")
    expect(page.locator(tid("preview-not-before"))).to_have_text(re.compile(r"^\d{2}/\d{2}/\d{4}$"))
    expect(page.locator(tid("preview-not-after"))).to_have_text(re.compile(r"^\d{2}/\d{2}/\d{4}$"))
    expect(page.locator(tid("preview-ca"))).to_have_text("VNPT Certification Authority (TEST)")
    expect(page.locator("dt", has_text="Ngày hiệu lực")).to_be_visible()
    expect(page.locator("dt", has_text="Ngày hết hạn")).to_be_visible()
    shot(page, "preview")

    page.locator(tid("register-submit")).click()
    box = expect_error(page, "EMAIL_REQUIRED")
    expect(box).to_contain_text("Cần nhập địa chỉ email")
    expect(page.locator(tid("email"))).to_have_attribute("aria-invalid", "true")
    expect(page.locator(tid("email"))).to_be_focused()
    shot(page, "email-required")

    page.locator(tid("email")).fill("not-an-email")
    page.locator(tid("register-submit")).click()
    expect_error(page, "INVALID_EMAIL")

    page.locator(tid("use-cert-email")).click()
    expect(page.locator(tid("email"))).to_have_value("ketoan@kyso-thu-nghiem.vn")
    page.locator(tid("register-submit")).click()
    expect(page.locator(tid("register-success"))).to_be_visible()
    expect(page.locator(tid("success-mst"))).to_have_text("0100112437")
    shot(page, "registered")


def test_duplicate_identity_gets_the_vietnamese_guidance(page, base_url, shot):
    """A second account for one CCCD (here its renewed certificate): ACCOUNT_EXISTS with
    the guidance to log in, recover, or complain at a counter; a link to log in."""
    register_with_token(page, base_url, "citizen-cccd")
    start_registration(page, base_url, "citizen", "usb")
    usb_sign(page, "citizen-cccd-renewed")
    box = expect_error(page, "ACCOUNT_EXISTS")
    expect(box.locator(tid("error-title"))).to_have_text("Danh tính này đã có tài khoản")
    guidance = box.locator(tid("error-guidance"))
    expect(guidance).to_contain_text("Đăng nhập")
    expect(guidance).to_contain_text("Quên mật khẩu/khôi phục")
    expect(guidance).to_contain_text("quầy tiếp nhận")
    login = box.locator(tid("error-login"))
    expect(login).to_be_focused()
    shot(page, "account-exists")
    login.click()
    expect(page).to_have_url(re.compile(r"#/login$"))


def test_login_with_token_and_log_out(page, base_url, shot):
    """Register, then log in with the token: the session lives in sessionStorage and
    the account page shows the identity; Đăng xuất forgets it."""
    register_with_token(page, base_url, "citizen-ec", email="le.cuong@example.vn")
    login_with_token(page, base_url, "citizen-ec", shot)
    expect(page.locator(tid("account"))).to_be_visible()
    expect(page.locator(tid("flash"))).to_have_text("Đăng nhập thành công.")
    expect(page.locator(tid("account-identifier"))).to_have_text("048201000123")
    expect(page.locator(tid("account-email"))).to_have_text("le.cuong@example.vn")
    expect(page.locator(tid("account-type"))).to_have_text("Công dân")
    stored = page.evaluate("sessionStorage.getItem('kyso.session')")
    assert stored and "token" in stored
    assert page.evaluate("localStorage.getItem('kyso.session')") is None
    shot(page, "account")

    page.locator(tid("logout")).click()
    expect(page.locator(tid("flash"))).to_have_text("Bạn đã đăng xuất.")
    assert page.evaluate("sessionStorage.getItem('kyso.session')") is None
    # The session is over at the gateway too, not only forgotten by the tab.
    token = json.loads(stored)["token"]
    status = page.evaluate(
        "t => fetch('/v1/accounts/me', {headers: {Authorization: 'Bearer ' + t}}).then(r => r.status)", token)
    assert status == 401
    expect(page.locator(tid("nav-account"))).to_be_hidden()
    open_page(page, base_url, "/account")
    expect(page.locator(tid("not-logged-in"))).to_be_visible()
    shot(page, "logged-out")


def test_a_logout_the_gateway_did_not_take_says_so_and_keeps_the_session(page, base_url):
    """Logging out on a shared computer must end the session at the gateway (and the
    portals' single sign-on with it): when the request fails, the page says so and offers
    Retry instead of a "logged out" it cannot promise, and the tab keeps the session."""
    # A token no other test registers: the stack's database is shared.
    register_with_token(page, base_url, "enterprise-branch", kind="enterprise", email="ketoan@example.vn")
    login_with_token(page, base_url, "enterprise-branch")
    expect(page.locator(tid("account"))).to_be_visible()
    page.route("**/v1/sessions/current", lambda route: route.abort())
    page.locator(tid("logout")).click()
    box = expect_error(page, "NETWORK_ERROR")
    assert page.evaluate("sessionStorage.getItem('kyso.session')") is not None
    expect(page.locator(tid("flash"))).not_to_have_text("Bạn đã đăng xuất.")
    page.unroute("**/v1/sessions/current")
    box.locator(tid("error-retry")).click()
    expect(page.locator(tid("flash"))).to_have_text("Bạn đã đăng xuất.")
    assert page.evaluate("sessionStorage.getItem('kyso.session')") is None


def test_login_without_an_account_offers_registration(page, base_url, shot):
    login_with_token(page, base_url, "citizen-etsi")
    box = expect_error(page, "ACCOUNT_NOT_FOUND")
    expect(box.locator(tid("error-register"))).to_be_visible()
    shot(page, "account-not-found")


def test_expired_certificate_points_to_the_certificate_provider(page, base_url, shot):
    start_registration(page, base_url, "citizen", "usb")
    option = page.locator(f'{tid("cert-option")}[data-token-label="expired"]')
    expect(option).to_contain_text("Đã hết hạn")
    usb_sign(page, "expired")
    box = expect_error(page, "CERT_EXPIRED")
    expect(box.locator(tid("error-guidance"))).to_contain_text("nhà cung cấp chứng thư số")
    shot(page, "cert-expired")


def test_agent_not_running_explains_how_to_start_it(page, base_url, stack, agent_down, shot):
    """No agent at the gateway's agent_url: AGENT_UNREACHABLE with the command that starts
    it for this page's origin. Once the agent is started there as told, Thử lại lists the
    certificates."""
    start_registration(page, base_url, "citizen", "usb")
    # The gateway's policy lets the page call exactly that address.
    assert f"connect-src 'self' {agent_down.url};" in page.evaluate(
        "fetch('/').then(r => r.headers.get('content-security-policy'))")
    box = expect_error(page, "AGENT_UNREACHABLE")
    expect(box.locator(tid("error-title"))).to_have_text("Không kết nối được phần mềm ký số")
    expect(box.locator(tid("agent-command"))).to_have_text(f"kyso-shim serve --allow-origin {base_url}")
    expect(box.locator(tid("error-retry"))).to_be_focused()
    shot(page, "agent-unreachable")

    late = stack.start_agent(base_url, listen=agent_down.address, name="kyso-shim-late")
    try:
        box.locator(tid("error-retry")).click()
        expect(page.locator(tid("cert-picker"))).to_be_visible()
        shot(page, "agent-started")
    finally:
        stack.stop_process(late)


def test_wrong_pin(page, base_url, stack, swap_agent, tmp_path, shot):
    """The agent's PIN is wrong (tokens copied, so the failed login touches no other
    test's token): PIN_INCORRECT with the guidance to try again in the agent's window."""
    wrong = tmp_path / "wrong-pin"
    wrong.write_text("00000000\n")
    swap_agent(pin_file=wrong, softhsm_conf=stack.isolated_tokens("wrong-pin"))
    start_registration(page, base_url, "citizen", "usb")
    usb_sign(page, "citizen-cmnd")
    box = expect_error(page, "PIN_INCORRECT")
    expect(box.locator(tid("error-title"))).to_have_text("Mã PIN không đúng")
    expect(box.locator(tid("error-guidance"))).to_contain_text("cửa sổ của phần mềm ký số")
    shot(page, "pin-incorrect")
    box.locator(tid("error-retry")).click()
    # The certificate chosen before is chosen again.
    expect(page.locator(f'{tid("cert-option")}[data-token-label="citizen-cmnd"] input')).to_be_checked()


def test_pin_entry_cancelled(page, base_url, swap_agent, tmp_path, shot):
    """The person closes the agent's PIN window (a pinentry that answers ERR): USER_CANCELLED."""
    pinentry = tmp_path / "pinentry-cancel"
    pinentry.write_text(
        "#!/bin/sh\necho 'OK ready'\n"
        "while read -r cmd rest; do case \"$cmd\" in "
        "GETPIN) echo 'ERR 83886179 Operation cancelled';; BYE) echo OK; exit 0;; *) echo OK;; esac; done\n"
    )
    pinentry.chmod(0o755)
    swap_agent(pinentry=pinentry)
    start_registration(page, base_url, "citizen", "usb")
    usb_sign(page, "citizen-cmnd")
    box = expect_error(page, "USER_CANCELLED")
    expect(box.locator(tid("error-title"))).to_have_text("Bạn đã hủy nhập mã PIN")
    shot(page, "pin-cancelled")


def test_wrong_pin_shows_the_tries_left(page, base_url, shot):
    """When the token reports it (SoftHSM does not), the agent's retries_left is shown."""
    def refuse(route):
        route.fulfill(
            status=401,
            headers={"Access-Control-Allow-Origin": base_url, "Content-Type": "application/problem+json"},
            body='{"code":"PIN_INCORRECT","detail":"the PIN is incorrect","status":401,"retries_left":2}',
        )

    page.route("**/v1/authenticate", refuse)
    start_registration(page, base_url, "citizen", "usb")
    usb_sign(page, "citizen-cmnd")
    box = expect_error(page, "PIN_INCORRECT")
    expect(box.locator(tid("error-retries-left"))).to_have_text("Còn 2 lần thử trước khi mã PIN bị khóa.")
    shot(page, "tries-left")


@pytest.fixture
def own_gateway(stack):
    """A gateway with a database of its own behind the page's origin, for a test whose
    account the shared gateway's other tests must not meet."""
    gateway = stack.start_separate_gateway("kyso-lost-answer")
    stack.proxy.upstream = gateway.url
    try:
        yield gateway
    finally:
        stack.proxy.upstream = stack.gateway.url if stack.gateway else None
        stack.stop_process(gateway)


def test_a_confirmation_whose_answer_was_lost_points_to_login(page, base_url, own_gateway):
    """The first confirmation reaches the gateway and creates the account, but its answer
    never reaches the page; sent again, its used ticket is TICKET_NOT_FOUND — and the page
    says the account may exist already and offers to log in, where the same token works."""
    start_registration(page, base_url, "citizen", "usb")
    usb_sign(page, "citizen-cmnd")
    expect(page.locator(tid("preview"))).to_be_visible()
    delivered = []

    def deliver_then_lose(route):
        delivered.append(route.fetch().status)
        route.abort("connectionreset")

    page.route("**/v1/registrations/*/confirm", deliver_then_lose)
    page.locator(tid("register-submit")).click()
    first = expect_error(page, "NETWORK_ERROR")
    expect(first.locator(tid("confirm-perhaps-created"))).to_have_count(0)
    assert delivered == [201]
    page.unroute("**/v1/registrations/*/confirm")
    page.locator(tid("register-submit")).click()
    box = expect_error(page, "TICKET_NOT_FOUND")
    expect(box.locator(tid("confirm-perhaps-created"))).to_contain_text("có thể đã được tạo")
    box.locator(tid("go-login")).click()
    usb_sign(page, "citizen-cmnd", None, "login-certificates")
    expect(page.locator(tid("account"))).to_be_visible()
    expect(page.locator(tid("account-identifier"))).to_have_text("012345678")
