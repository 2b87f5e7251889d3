"""The gateway serves the page (gateway/web/, embedded in its binary) and /config.json,
with its security headers on every answer; the reverse proxy in front of it passes them
on unchanged."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from pathlib import Path

import pytest
from playwright.sync_api import expect

from helpers import tid

pytestmark = pytest.mark.stack

WEB = Path(__file__).resolve().parents[2] / "gateway" / "web"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
}
# The page's files as the gateway routes them: / and /assets/*, /messages/*.
FILES = [("/", WEB / "index.html")] + [
    (f"/{path.relative_to(WEB).as_posix()}", path)
    for folder in ("assets", "messages")
    for path in sorted((WEB / folder).iterdir())
    if path.is_file()
]
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authenticate", "proxy-authorization"}


def origin_of(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def expected_csp(agent_url: str) -> str:
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self' {origin_of(agent_url)}; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'self'"
    )


def directives(csp: str) -> dict[str, list[str]]:
    out = {}
    for part in csp.split(";"):
        tokens = part.split()
        if tokens:
            out[tokens[0].lower()] = tokens[1:]
    return out


def fetch(base: str, path: str, method: str = "GET", body: bytes | None = None,
          headers: dict | None = None) -> tuple[int, list[tuple[str, str]], bytes]:
    """One request; the status, every header as sent (names lowercased) and the body."""
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        answer = conn.getresponse()
        return answer.status, [(k.lower(), v) for k, v in answer.getheaders()], answer.read()
    finally:
        conn.close()


def assert_secure(headers, agent_url: str, what: str) -> None:
    """The gateway's security headers, each exactly once, for a page on plain http."""
    def one(name):
        values = [v for k, v in headers if k == name]
        assert len(values) == 1, f"{what}: {name} {values}"
        return values[0]

    csp = one("content-security-policy")
    assert csp == expected_csp(agent_url), f"{what}: {csp}"
    policy = directives(csp)
    assert policy["connect-src"] == ["'self'", origin_of(agent_url)], f"{what}: {csp}"
    assert policy["script-src"] == ["'self'"] and policy["default-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert "unsafe" not in csp
    assert one("x-content-type-options") == "nosniff"
    assert one("referrer-policy") == "no-referrer"
    assert one("x-frame-options") == "DENY"
    assert one("cross-origin-opener-policy") == "same-origin"
    assert not any(k == "strict-transport-security" for k, _ in headers), f"{what}: HSTS on an http origin"


def test_the_page_and_its_assets_come_from_the_gateway(base_url, stack):
    """Every file of gateway/web/ (README aside), byte for byte as in the repository (a
    gateway built from older files fails here), with its type and the security headers."""
    assert len(FILES) == 17, [p for p, _ in FILES]
    for path, source in FILES:
        status, headers, body = fetch(base_url, path)
        assert status == 200, f"{path}: {status}"
        assert dict(headers)["content-type"] == TYPES[source.suffix], path
        assert dict(headers)["cache-control"] == "no-cache", path
        assert body == source.read_bytes(), f"{path}: not {source} (rebuild kyso-gateway)"
        assert_secure(headers, stack.agent.url, path)
    status, headers, _ = fetch(base_url, "/assets/nope.js")
    assert status == 404 and dict(headers)["content-type"] == "application/problem+json"
    assert_secure(headers, stack.agent.url, "/assets/nope.js")
    status, _, _ = fetch(base_url, "/assets/..%2Findex.html")
    assert status == 404


def test_config_json_comes_from_the_gateway(base_url, stack):
    """The agent's address is the gateway's [web] agent_url; the origin its public_origin."""
    status, headers, body = fetch(base_url, "/config.json")
    assert status == 200
    assert dict(headers)["content-type"] == "application/json"
    assert json.loads(body) == {"agent_url": stack.agent.url, "sim_enabled": True, "origin": base_url}
    assert_secure(headers, stack.agent.url, "/config.json")


def test_api_answers_carry_the_security_headers(base_url, stack):
    for method, path, body, status in [
        ("GET", "/healthz", None, 200),
        ("GET", "/readyz", None, 200),
        ("GET", "/v1/accounts/me", None, 401),
        ("POST", "/v1/challenges", b"{", 400),
        ("GET", "/no/such/page", None, 404),
        ("DELETE", "/", None, 405),
    ]:
        got, headers, _ = fetch(base_url, path, method, body, {"Content-Type": "application/json"} if body else None)
        assert got == status, f"{method} {path}: {got}"
        assert_secure(headers, stack.agent.url, f"{method} {path}")


def test_the_proxy_passes_answers_on_unchanged(base_url, stack):
    """The same request straight to the gateway and through the proxy: the same status,
    headers (hop-by-hop and Date aside) and body, for every kind of answer."""
    requests = [("GET", "/", None), ("HEAD", "/", None), ("GET", "/assets/app.css", None),
                ("GET", "/messages/vi.json", None), ("GET", "/config.json", None), ("GET", "/healthz", None),
                ("GET", "/v1/accounts/me", None), ("POST", "/v1/challenges", b"{}"),
                ("POST", "/v1/sessions/token", b"not json"), ("PUT", "/config.json", None)]
    for method, path, body in requests:
        # A request id of our own, so both answers carry the same one.
        extra = {"X-Request-Id": f"served-{method}-{len(path)}"}
        if body is not None:
            extra["Content-Type"] = "application/json"
        direct = fetch(stack.gateway.url, path, method, body, extra)
        proxied = fetch(base_url, path, method, body, extra)

        def comparable(headers):
            return sorted((k, v) for k, v in headers if k not in HOP_BY_HOP | {"date"})

        assert proxied[0] == direct[0], f"{method} {path}"
        assert comparable(proxied[1]) == comparable(direct[1]), f"{method} {path}"
        if path != "/v1/challenges":  # a challenge is new every time
            assert proxied[2] == direct[2], f"{method} {path}"
        if method == "HEAD":
            assert proxied[2] == b""


def test_the_browser_runs_the_page_under_the_gateways_policy(page, base_url, stack):
    """What Chromium receives for the page and every file it loads carries the policy
    naming the agent; the page starts (config read, agent reached) with no violation (the
    page fixture fails the test on any)."""
    answers = {}
    page.on("response", lambda r: answers.setdefault(urllib.parse.urlsplit(r.url).path, r)
            if r.url.startswith(base_url) else None)
    first = page.goto(f"{base_url}/#/register/citizen/usb")
    expect(page.locator(tid("cert-picker"))).to_be_visible()
    assert first.status == 200
    loaded = {"/", "/config.json", "/messages/vi.json", "/assets/app.css", "/assets/app.js", "/assets/usb.js"}
    assert loaded <= set(answers), sorted(answers)
    for path in sorted(answers):
        headers = answers[path].all_headers()
        assert headers["content-security-policy"] == expected_csp(stack.agent.url), path
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["referrer-policy"] == "no-referrer", path
