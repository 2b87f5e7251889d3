"""Registration and login with a signing SIM (the real gateway and MSSP simulator), on a
phone-sized page (375 px wide)."""

from __future__ import annotations

import json
import re
import time
import urllib.request

import pytest
from playwright.sync_api import expect

from conftest import PHONE
from helpers import expect_error, open_page, start_registration, tid

pytestmark = pytest.mark.stack


def no_horizontal_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width}px wide at {PHONE['width']}px"


def start_sim(page, phone_number: str, shot=None) -> str:
    page.locator(tid("sim-phone")).fill(phone_number)
    if shot:
        shot(page, "phone-number")
    page.locator(tid("sim-submit")).click()
    code = page.locator(tid("sim-code"))
    expect(code).to_have_text(re.compile(r"^\d{4}$"))
    return code.inner_text()


def test_citizen_registers_with_a_signing_sim(phone_page, new_page, base_url, sim_url, shot):
    """Citizen, SIM: the code on the page equals the code on the simulated phone (its own
    page, in a second tab); confirming there with the SIM PIN gives the preview; register."""
    page = phone_page
    start_registration(page, base_url, "citizen", "sim", shot)
    code = start_sim(page, "0912000001", shot)
    expect(page.locator(tid("sim-countdown"))).to_contain_text(re.compile(r"Còn .*giây để xác nhận"))
    expect(page.locator(tid("sim-instruction"))).to_contain_text("so sánh mã xác nhận")
    expect(page.locator(tid("sim-cancel"))).to_be_visible()
    no_horizontal_scroll(page)
    shot(page, "code")

    handset = phone_page.context.new_page()
    handset.goto(f"{sim_url}/phone/0912000001")
    card = handset.locator(".card")
    expect(card.locator(".code")).to_have_text(code)
    expect(card.locator(".text")).to_contain_text(f"Đăng ký tài khoản. Mã xác nhận {code}")
    shot(handset, "phone-shows-the-same-code")
    card.locator(".pin").fill("1234")
    card.locator(".confirm").click()
    expect(handset.locator("#last")).to_contain_text("Đã ký thành công")
    handset.close()

    expect(page.locator(tid("preview"))).to_be_visible(timeout=30_000)
    expect(page.locator(tid("preview-cccd"))).to_have_text(re.compile(r"^\d{12}$"))
    expect(page.locator(tid("preview-name"))).not_to_be_empty()
    no_horizontal_scroll(page)
    shot(page, "preview")
    page.locator(tid("confirm-phone")).fill("+84912000001")
    page.locator(tid("register-submit")).click()
    expect(page.locator(tid("register-success"))).to_be_visible()
    expect(page.locator(tid("go-login"))).to_have_attribute("href", "#/login/sim")
    no_horizontal_scroll(page)
    shot(page, "registered")


def test_sim_login_after_sim_registration(phone_page, base_url, phone, shot):
    """Register +84912000002 by SIM (the phone answers through the device API), then log
    in by SIM: the account page."""
    page = phone_page
    handset = phone("+84912000002")
    open_page(page, base_url, "/register/citizen/sim")
    code = start_sim(page, "84912000002")
    request = handset.pending()
    assert request["verification_code"] == code
    assert handset.confirm(request["id"])["result"] == "SIGNED"
    expect(page.locator(tid("preview"))).to_be_visible(timeout=30_000)
    page.locator(tid("register-submit")).click()
    expect(page.locator(tid("register-success"))).to_be_visible()

    page.locator(tid("go-login")).click()
    code = start_sim(page, "+84912000002", shot)
    request = handset.pending()
    assert request["verification_code"] == code
    assert "Đăng nhập" in request["display_text"]
    assert handset.confirm(request["id"])["result"] == "SIGNED"
    expect(page.locator(tid("account"))).to_be_visible(timeout=30_000)
    expect(page.locator(tid("account-identifier"))).to_have_text(re.compile(r"^\d{12}$"))
    no_horizontal_scroll(page)
    shot(page, "account")


def test_enterprise_sim_registration(phone_page, base_url, shot):
    """Enterprise, SIM (+84913000012 signs by itself as the SIM enterprise): MST preview,
    email required."""
    page = phone_page
    open_page(page, base_url, "/register/enterprise/sim")
    start_sim(page, "0913000012")
    expect(page.locator(tid("preview"))).to_be_visible(timeout=30_000)
    expect(page.locator(tid("preview-mst"))).to_have_text("0100109106")
    shot(page, "preview")
    page.locator(tid("register-submit")).click()
    expect_error(page, "EMAIL_REQUIRED")
    page.locator(tid("email")).fill("lienhe@dichvuso.example.vn")
    page.locator(tid("register-submit")).click()
    expect(page.locator(tid("register-success"))).to_be_visible()
    no_horizontal_scroll(page)
    shot(page, "registered")


def test_refused_on_the_phone(phone_page, base_url, shot):
    page = phone_page
    open_page(page, base_url, "/register/citizen/sim")
    start_sim(page, "0913000002")
    box = expect_error(page, "USER_REFUSED")
    expect(box.locator(tid("error-title"))).to_have_text("Yêu cầu ký đã bị từ chối trên điện thoại")
    no_horizontal_scroll(page)
    shot(page, "refused")
    box.locator(tid("error-retry")).click()
    expect(page.locator(tid("sim-phone"))).to_have_value("0913000002")


def test_not_enrolled_and_invalid_numbers(phone_page, base_url, shot):
    page = phone_page
    open_page(page, base_url, "/register/citizen/sim")
    page.locator(tid("sim-phone")).fill("12345")
    page.locator(tid("sim-submit")).click()
    expect_error(page, "INVALID_PHONE")
    expect(page.locator(tid("sim-phone"))).to_have_attribute("aria-invalid", "true")
    shot(page, "invalid-phone")
    page.locator(tid("sim-phone")).fill("0913000004")
    page.locator(tid("sim-submit")).click()
    box = expect_error(page, "NOT_ENROLLED")
    expect(box).to_contain_text("chưa đăng ký dịch vụ ký số qua SIM")
    shot(page, "not-enrolled")


def test_cancel_stops_waiting(phone_page, base_url, shot):
    """+84913000003 never answers: Hủy yêu cầu stops polling and returns to the number."""
    page = phone_page
    open_page(page, base_url, "/register/citizen/sim")
    start_sim(page, "0913000003")
    polls = []
    page.on("request", lambda r: polls.append(r.url) if "/v1/registrations/sim/" in r.url else None)
    page.locator(tid("sim-cancel")).click()
    expect(page.locator(tid("sim-notice"))).to_contain_text("Đã hủy")
    expect(page.locator(tid("sim-phone"))).to_have_value("0913000003")
    expect(page.locator(tid("sim-phone"))).to_be_focused()
    count = len(polls)
    page.wait_for_timeout(1500)
    assert len(polls) == count, "the page went on polling after Hủy"
    shot(page, "cancelled")


def test_bad_signature_shows_the_precise_reason(phone_page, base_url, shot):
    """+84913000008 returns a bad signature: VERIFICATION_FAILED, with the precise code
    the gateway puts first in the detail (SIGNATURE_INVALID) explained too."""
    page = phone_page
    open_page(page, base_url, "/register/citizen/sim")
    start_sim(page, "0913000008")
    box = expect_error(page, "VERIFICATION_FAILED")
    precise = box.locator(tid("error-precise"))
    expect(precise).to_have_attribute("data-code", "SIGNATURE_INVALID")
    expect(precise).to_contain_text("Chữ ký số không hợp lệ")
    shot(page, "verification-failed")


def test_busy_number(phone_page, base_url, stack, phone, shot):
    """A request is already waiting on the phone: BUSY, with the advice to answer or wait."""
    page = phone_page
    req = urllib.request.Request(
        f"{stack.gateway.url}/v1/registrations/sim",
        data=json.dumps({"phone": "0912000003"}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 202
    handset = phone("0912000003")
    waiting = handset.pending()
    try:
        open_page(page, base_url, "/register/enterprise/sim")
        page.locator(tid("sim-phone")).fill("0912000003")
        page.locator(tid("sim-submit")).click()
        box = expect_error(page, "BUSY")
        expect(box.locator(tid("error-guidance"))).to_contain_text("từ chối yêu cầu đó trên điện thoại")
        no_horizontal_scroll(page)
        shot(page, "busy")
    finally:
        urllib.request.urlopen(urllib.request.Request(f"{handset.base}/{waiting['id']}/reject", method="POST"), timeout=10)


def test_a_poll_refused_for_a_moment_is_asked_again(phone_page, base_url):
    """Polls answered 429 RATE_LIMITED (many people behind one office address) and 503
    OVERLOADED are asked again after their Retry-After, for the same session: the phone's
    answer still arrives (+84913000002 refuses on the phone)."""
    page = phone_page
    refused: list[str] = []

    def refuse_twice(route):
        if len(refused) >= 2:
            route.continue_()
            return
        code, status = ("RATE_LIMITED", 429) if not refused else ("OVERLOADED", 503)
        refused.append(route.request.url.split("?")[0])
        route.fulfill(
            status=status,
            headers={"Retry-After": "1", "Content-Type": "application/problem+json"},
            body=json.dumps({"type": f"urn:kyso:error:{code}", "title": code, "status": status,
                             "code": code, "detail": "try again shortly"}),
        )

    page.route("**/v1/registrations/sim/*", refuse_twice)
    open_page(page, base_url, "/register/citizen/sim")
    start_sim(page, "0913000002")
    expect_error(page, "USER_REFUSED")
    assert len(refused) == 2 and refused[0] == refused[1], refused


def refused_poll(route) -> None:
    """Answers a poll 503 OVERLOADED with Retry-After: 1, as a gateway under load does."""
    code = "OVERLOADED"
    route.fulfill(
        status=503,
        headers={"Retry-After": "1", "Content-Type": "application/problem+json"},
        body=json.dumps({"type": f"urn:kyso:error:{code}", "title": code, "status": 503,
                         "code": code, "detail": "try again shortly"}),
    )


def test_retry_after_refused_polls_resumes_the_same_session(phone_page, base_url):
    """Polls refused past the page's patience (nine OVERLOADED in a row) show the error;
    while the person can still answer on the phone, Thử lại polls the same session again
    rather than starting a new one (which would meet BUSY), and its answer arrives."""
    page = phone_page
    starts: list[str] = []
    polls: list[str] = []
    page.on("request", lambda r: starts.append(r.url) if r.method == "POST" and r.url.endswith("/v1/registrations/sim") else None)
    page.on("request", lambda r: polls.append(r.url.split("?")[0]) if "/v1/registrations/sim/" in r.url else None)
    page.route("**/v1/registrations/sim/*", refused_poll)
    open_page(page, base_url, "/register/citizen/sim")
    start_sim(page, "0913000002")
    box = expect_error(page, "OVERLOADED", timeout=30_000)
    refused = len(polls)
    assert refused == 9, polls
    page.unroute("**/v1/registrations/sim/*")
    box.locator(tid("error-retry")).click()
    expect_error(page, "USER_REFUSED")
    assert len(starts) == 1, starts
    assert len(polls) > refused and set(polls) == {polls[0]}, polls


def test_retry_after_refused_polls_once_time_is_up_starts_again(phone_page, base_url):
    """The same refusals once the session's time to answer has passed (the page is told
    it ends three seconds after the start): Thử lại goes back to the number, with no
    further poll of the old session."""
    page = phone_page
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if "/v1/registrations/sim/" in r.url else None)

    def ending_soon(route):
        response = route.fetch()
        started = response.json()
        soon = time.time() + 3
        started["expires_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(soon))
        route.fulfill(response=response, json=started)

    page.route("**/v1/registrations/sim", ending_soon)
    page.route("**/v1/registrations/sim/*", refused_poll)
    open_page(page, base_url, "/register/citizen/sim")
    start_sim(page, "0913000002")
    box = expect_error(page, "OVERLOADED", timeout=30_000)
    count = len(polls)
    box.locator(tid("error-retry")).click()
    expect(page.locator(tid("sim-phone"))).to_have_value("0913000002")
    page.wait_for_timeout(1500)
    assert len(polls) == count, "the page polled the old session after its time was up"
