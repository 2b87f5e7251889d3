"""`GET /metrics` after what a person does on the page, read with the Prometheus
project's own text-format parser (prometheus_client): the registration, the login, the
requests that carried them and the store's work are counted under the names and labels
docs/operations.md gives."""

from __future__ import annotations

import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from playwright.sync_api import expect

from helpers import login_with_token, register_with_token, tid

pytestmark = pytest.mark.stack

# Every route template the gateway has, and the label of paths none takes.
ROUTES = {
    "/v1/challenges", "/v1/registrations/token", "/v1/registrations/{ticket}/confirm",
    "/v1/sessions/token", "/v1/registrations/sim", "/v1/sessions/sim",
    "/v1/registrations/sim/{id}", "/v1/sessions/sim/{id}", "/v1/accounts/me", "/healthz",
    "/readyz", "/metrics", "/openapi.json", "/", "/assets/{name}", "/messages/{name}", "/config.json",
    "/v1/accounts/me/portals", "/v1/accounts/me/portals/{client_id}", "/v1/sessions/current",
    "/.well-known/openid-configuration", "/oidc/authorize", "/oidc/consent", "/oidc/session",
    "/oidc/token", "/oidc/userinfo", "/oidc/jwks", "/oidc/logout",
    "unmatched",
}

# A token person whose identity no other browser test registers.
PERSON = "enterprise-employee"


def scrape(base_url: str) -> tuple[dict, dict]:
    """Every sample by (name, labels), and every family's type by name."""
    with urllib.request.urlopen(f"{base_url}/metrics") as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    samples, types = {}, {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples, types


def total(samples: dict, name: str, **labels) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def test_metrics_count_a_registration_and_a_login(page, base_url):
    before, _ = scrape(base_url)
    register_with_token(page, base_url, PERSON)
    login_with_token(page, base_url, PERSON)
    expect(page.locator(tid("account"))).to_be_visible()
    after, types = scrape(base_url)

    def grew(name: str, **labels) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert grew("kyso_registrations_total", channel="token", subject_type="citizen", result="created") == 1
    assert grew("kyso_logins_total", channel="token", result="ok") == 1
    confirm = "/v1/registrations/{ticket}/confirm"
    assert grew("kyso_http_requests_total", route=confirm, method="POST", status="201") == 1
    assert grew("kyso_http_request_duration_seconds_count", route="/v1/challenges", method="POST") >= 2
    assert grew("kyso_store_operation_duration_seconds_count", operation="create_account", outcome="ok") == 1
    assert grew("kyso_store_operation_duration_seconds_count", operation="take_challenge", outcome="ok") >= 2
    # Route templates, never raw paths: no ticket, session id or scanner's path becomes a
    # label.
    routes = {dict(ls).get("route") for (n, ls) in after if n == "kyso_http_requests_total"}
    assert confirm in routes
    assert routes <= ROUTES, routes - ROUTES
    assert types["kyso_http_request_duration_seconds"] == "histogram"
    assert types["kyso_registrations"] == "counter"
    assert types["kyso_open_connections"] == "gauge"
    # The scrape itself is a connection and a request in flight.
    assert total(after, "kyso_open_connections") >= 1
    assert total(after, "kyso_http_requests_in_flight") >= 1
