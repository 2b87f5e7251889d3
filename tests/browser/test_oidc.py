"""kyso as the OpenID Provider of portals, against relying parties nobody here wrote.

- In Chromium: two portals run by Apache httpd with mod_auth_openidc. The protected page
  of portal A sends the person to kyso, who logs in with the USB token through the agent
  (SoftHSM), consents, and comes back to the page, which shows the claims (CCCD, acr).
  Portal B then signs the person in without a new proof, under another `sub`. The
  account page lists both portals; withdrawing B ends B's session by back-channel logout
  and its consent is asked again. Logging out at portal A ends kyso's session and, by
  back-channel logout, portal B's. The same sign-in with a signing SIM tells the portal
  the SIM's `amr`.
- With authlib, a Python OpenID client: a whole code flow with PKCE whose ID token authlib
  verifies against the provider's JWKS, then the protocol's negatives — a wrong redirect
  URI, a reused code, a PKCE mismatch, an expired code, a bad client secret, an unsupported
  response type, acr_values that cannot be met, prompt=none without a session.

The provider is a gateway of its own (own database) behind the page's proxy while this
module runs, so the accounts it makes touch no other test.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import time
from types import SimpleNamespace
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.integrations.base_client import OAuthError
from joserfc import jwt
from joserfc.jwk import KeySet
from playwright.sync_api import expect
from prometheus_client.parser import text_string_to_metric_families

from conftest import Phone
from helpers import expect_error, tid, usb_sign
from portals import Apache, ClaimsPage, make_portals
from stack import toml_str

pytestmark = pytest.mark.stack

PERSON = "citizen-cccd"
CCCD = "001090012345"
ACR = "urn:kyso:assurance:ial3"
# Long enough for every browser and Apache hand-over on a loaded machine; the expiry
# test waits it out.
CODE_TTL = 10
RP_CALLBACK = "http://127.0.0.1:9/callback"  # never reached: the test reads the redirect


@pytest.fixture(scope="module")
def oidc(stack, tmp_path_factory):
    work = tmp_path_factory.mktemp("oidc")
    key = work / "op-signing.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-out", str(key)], check=True, capture_output=True)
    portals = make_portals()
    rp_secret = secrets.token_urlsafe(32)
    config = (
        "[oidc]\n"
        f"signing_keys = [{toml_str(str(key))}]\n"
        f"pairwise_secret = {toml_str(secrets.token_urlsafe(32))}\n"
        f"form_secret = {toml_str(secrets.token_urlsafe(32))}\n"
        f"code_ttl_seconds = {CODE_TTL}\n"
        + "".join(p.client_toml() for p in portals)
        + "[[oidc.clients]]\n"
        'id = "rp-python"\nname = "Python RP (authlib)"\n'
        f"secret = {toml_str(rp_secret)}\n"
        f"redirect_uris = [{toml_str(RP_CALLBACK)}]\n"
        'scopes = ["openid", "profile", "vn_identity"]\n'
    )
    gateway = stack.start_separate_gateway("kyso-oidc", config)
    stack.proxy.upstream = gateway.url
    backend = ClaimsPage()
    apache = None
    try:
        apache = Apache(work / "apache", stack.origin, portals, backend.url, stack.logs).start()
        register(stack)
        sim = next(p for p in stack.processes if p.name == "kyso-oidc-mssp-sim")
        yield SimpleNamespace(issuer=stack.origin, a=portals[0], b=portals[1], rp_secret=rp_secret,
                              apache=apache, sim_url=sim.url)
    finally:
        if apache:
            apache.stop()
        backend.stop()
        stack.proxy.upstream = stack.gateway.url if stack.gateway else None
        stack.stop_process(gateway)


# -- the person, signing through the agent as the page does ------------------------------


def agent(stack, method: str, path: str, body: dict | None = None) -> dict:
    r = requests.request(method, f"{stack.agent.url}{path}", json=body, timeout=60,
                         headers={"Origin": stack.origin})
    r.raise_for_status()
    return r.json()


def proof(stack, purpose: str) -> tuple[str, dict]:
    """A challenge for purpose signed by PERSON's token; (challenge id, auth token)."""
    challenge = requests.post(f"{stack.origin}/v1/challenges", json={"purpose": purpose}, timeout=30).json()
    certificates = agent(stack, "GET", "/v1/certificates")["certificates"]
    mine = next(c for c in certificates if (c.get("token") or {}).get("label") == PERSON)
    token = agent(stack, "POST", "/v1/authenticate",
                  {"challenge_nonce": challenge["nonce"], "certificate_id": mine["certificate_id"]})
    return challenge["challenge_id"], token


def register(stack) -> None:
    challenge_id, token = proof(stack, "register")
    preview = requests.post(f"{stack.origin}/v1/registrations/token",
                            json={"challenge_id": challenge_id, "auth_token": token}, timeout=30)
    assert preview.status_code == 200, preview.text
    confirmed = requests.post(f"{stack.origin}/v1/registrations/{preview.json()['ticket']}/confirm",
                              json={}, timeout=30)
    assert confirmed.status_code == 201, confirmed.text


def browser_cookie(stack) -> str:
    """Logs PERSON in and turns the session into the provider's cookie; `name=value`."""
    challenge_id, token = proof(stack, "login")
    session = requests.post(f"{stack.origin}/v1/sessions/token",
                            json={"challenge_id": challenge_id, "auth_token": token}, timeout=30).json()
    r = requests.post(f"{stack.origin}/oidc/session", timeout=30,
                      headers={"Authorization": f"Bearer {session['session_token']}", "Origin": stack.origin})
    assert r.status_code == 204, r.text
    return r.headers["Set-Cookie"].split(";")[0]


def follow(url: str, cookie: str | None) -> requests.Response:
    """One step of the person's browser at the provider, without following the redirect."""
    return requests.get(url, headers={"Cookie": cookie} if cookie else {}, allow_redirects=False, timeout=30)


def consent(html: str, cookie: str, origin: str) -> str:
    """Clicks Đồng ý on the consent page; the redirect back to the portal."""
    fields = dict(re.findall(r'name="(request|csrf)" value="([^"]*)"', html))
    fields = {k: v.replace("&amp;", "&").replace("&quot;", '"') for k, v in fields.items()}
    r = requests.post(f"{origin}/oidc/consent", data={**fields, "decision": "allow"},
                      headers={"Cookie": cookie, "Origin": origin}, allow_redirects=False, timeout=30)
    assert r.status_code == 303, r.text
    return r.headers["Location"]


def query(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}


# -- Chromium, Apache httpd and mod_auth_openidc ------------------------------------------


def claims_on(page) -> dict:
    return {el.get_attribute("data-claim"): el.inner_text() for el in page.locator("dd[data-claim]").all()}


def test_a_portal_behind_mod_auth_openidc_signs_the_person_in_and_a_second_portal_needs_no_new_proof(
        page, oidc, stack, shot):
    a, b = oidc.a, oidc.b
    page.goto(f"{a.origin}/protected/")
    # kyso's page: the portal asked for a login.
    expect(page.locator(tid("for-portal"))).to_be_visible()
    shot(page, "portal-login")
    page.locator(tid("login-usb")).click()
    usb_sign(page, PERSON)
    # The consent screen names the portal and what it receives.
    expect(page.locator(tid("consent-portal"))).to_have_text(a.name)
    claims = [el.get_attribute("data-claim") for el in page.locator(tid("consent-claim")).all()]
    assert claims[:2] == ["name", "vn_subject_type"] and "vn_identifier" in claims, claims
    shot(page, "consent")
    page.locator(tid("consent-allow")).click()
    # Back at portal A's protected page, which shows what mod_auth_openidc received.
    expect(page.locator(tid("portal"))).to_have_text("Portal a")
    seen_a = claims_on(page)
    assert CCCD in seen_a["vn_identifier"], seen_a
    assert seen_a["acr"] == ACR
    assert seen_a["iss"] == oidc.issuer
    shot(page, "portal-a")

    # Portal B: single sign-on, only its own consent; another sub, the same person.
    page.goto(f"{b.origin}/protected/")
    expect(page.locator(tid("consent-portal"))).to_have_text(b.name)
    assert urlparse(page.url).path == "/oidc/authorize", "no login page on the way"
    page.locator(tid("consent-allow")).click()
    expect(page.locator(tid("portal"))).to_have_text("Portal b")
    seen_b = claims_on(page)
    assert CCCD in seen_b["vn_identifier"]
    assert seen_b["sub"] != seen_a["sub"], "two portals must not be able to correlate the person"
    assert "name" not in seen_b, "portal B did not ask for profile"

    # The account page lists both portals and what each receives.
    page.goto(f"{stack.origin}/#/account")
    portals = page.locator(tid("portal"))
    expect(portals).to_have_count(2)
    expect(page.locator(tid("portal-name"))).to_have_text([a.name, b.name])
    expect(portals.nth(0).locator("li[data-claim=vn_identifier]")).to_have_count(1)
    shot(page, "linked-portals")
    # Withdrawing portal B: the list shrinks; B's own session is ended by back-channel
    # logout, so B sends the person to kyso again, where its consent is asked anew (kyso's
    # session is still there: no new proof).
    portals.nth(1).locator(tid("portal-unlink")).click()
    expect(portals).to_have_count(1)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        page.goto(f"{b.origin}/protected/")
        if page.locator(tid("portal")).count() == 0:
            break
        time.sleep(0.25)
    expect(page.locator(tid("consent-portal"))).to_have_text(b.name)
    page.locator(tid("consent-allow")).click()
    expect(page.locator(tid("portal"))).to_have_text("Portal b")

    # Logging out at portal A ends kyso's session and, by back-channel, portal B's.
    page.goto(a.logout_link())
    expect(page.locator(tid("portal-logged-out"))).to_be_visible()
    assert page.url.startswith(a.logged_out_uri), page.url
    # The logout token travels in the background: give it a moment to land.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        page.goto(f"{b.origin}/protected/")
        if page.locator(tid("portal")).count() == 0:
            break
        time.sleep(0.25)
    expect(page.locator(tid("for-portal"))).to_be_visible()


def test_a_refused_hand_over_to_the_portal_says_why_and_retry_repeats_only_it(page, oidc, stack):
    """The login is made but handing it to the browser (POST /oidc/session) is refused for
    a moment (429): the page names the refusal, and Retry repeats only the hand-over — no
    second signature with the token."""
    refused: list[int] = []

    def refuse_once(route):
        if refused:
            route.continue_()
            return
        refused.append(1)
        route.fulfill(status=429, headers={"Retry-After": "1", "Content-Type": "application/problem+json"},
                      body=json.dumps({"type": "urn:kyso:error:RATE_LIMITED", "title": "RATE_LIMITED",
                                       "status": 429, "code": "RATE_LIMITED", "detail": "try again shortly"}))

    page.route("**/oidc/session", refuse_once)
    signed: list[str] = []
    page.on("request", lambda r: signed.append(r.url)
            if r.method == "POST" and r.url.endswith("/v1/authenticate") else None)
    page.goto(f"{oidc.a.origin}/protected/")
    expect(page.locator(tid("for-portal"))).to_be_visible()
    page.locator(tid("login-usb")).click()
    usb_sign(page, PERSON)
    box = expect_error(page, "RATE_LIMITED")
    box.locator(tid("error-retry")).click()
    expect(page.locator(tid("consent-portal")).or_(page.locator(tid("portal")))).to_be_visible()
    assert refused == [1] and len(signed) == 1, (refused, signed)


def register_by_sim(stack, handset: Phone, number: str) -> None:
    started = requests.post(f"{stack.origin}/v1/registrations/sim", json={"phone": number}, timeout=30)
    assert started.status_code == 202, started.text
    assert handset.confirm(handset.pending()["id"])["result"] == "SIGNED"
    preview = requests.get(f"{stack.origin}/v1/registrations/sim/{started.json()['session_id']}?wait=20",
                           timeout=60).json()
    assert preview.get("state") == "complete", preview
    confirmed = requests.post(f"{stack.origin}/v1/registrations/{preview['ticket']}/confirm", json={}, timeout=30)
    assert confirmed.status_code == 201, confirmed.text


def test_a_portal_signs_in_a_person_who_proves_with_a_signing_sim(page, oidc, stack, shot):
    """The same sign-in with the signing SIM: the phone confirms with the PIN, and the
    portal is told the method (amr) of a SIM."""
    number = "+84912000002"
    handset = Phone(oidc.sim_url, number)
    register_by_sim(stack, handset, number)
    page.goto(f"{oidc.a.origin}/protected/")
    expect(page.locator(tid("for-portal"))).to_be_visible()
    page.locator(tid("login-sim")).click()
    page.locator(tid("sim-phone")).fill(number)
    page.locator(tid("sim-submit")).click()
    code = page.locator(tid("sim-code"))
    expect(code).to_have_text(re.compile(r"^\d{4}$"))
    request = handset.pending()
    assert request["verification_code"] == code.inner_text()
    assert handset.confirm(request["id"])["result"] == "SIGNED"
    expect(page.locator(tid("consent-portal"))).to_have_text(oidc.a.name, timeout=30_000)
    page.locator(tid("consent-allow")).click()
    expect(page.locator(tid("portal"))).to_have_text("Portal a")
    seen = claims_on(page)
    assert seen["amr"] == "hwk,pin,mfa", seen
    assert seen["acr"] == ACR
    assert json.loads(seen["vn_identifier"])["kind"] == "CCCD", seen
    shot(page, "portal-a-sim")


# -- authlib: the protocol's negatives -----------------------------------------------------


def client(oidc, **options) -> OAuth2Session:
    return OAuth2Session(client_id="rp-python", client_secret=options.pop("secret", oidc.rp_secret),
                         scope="openid profile vn_identity", redirect_uri=RP_CALLBACK,
                         code_challenge_method="S256", **options)


def discovery(oidc) -> dict:
    return requests.get(f"{oidc.issuer}/.well-known/openid-configuration", timeout=30).json()


def code_for(oidc, rp: OAuth2Session, cookie: str, verifier: str, **params) -> str:
    """The person's browser through the authorization request; the redirect to the RP."""
    url, _ = rp.create_authorization_url(discovery(oidc)["authorization_endpoint"], code_verifier=verifier, **params)
    r = follow(url, cookie)
    if r.status_code == 200:
        return consent(r.text, cookie, oidc.issuer)
    assert r.status_code == 303, r.text
    return r.headers["Location"]


def test_authlib_runs_the_code_flow_and_verifies_the_id_token(oidc, stack):
    cookie = browser_cookie(stack)
    rp, verifier, nonce = client(oidc), secrets.token_urlsafe(48), secrets.token_urlsafe(16)
    back = code_for(oidc, rp, cookie, verifier, nonce=nonce)
    assert back.startswith(RP_CALLBACK)
    token = rp.fetch_token(discovery(oidc)["token_endpoint"], authorization_response=back, code_verifier=verifier)
    keys = KeySet.import_key_set(requests.get(discovery(oidc)["jwks_uri"], timeout=30).json())
    claims = jwt.decode(token["id_token"], keys, algorithms=["ES256"]).claims
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": oidc.issuer},
        aud={"essential": True, "value": "rp-python"},
        nonce={"essential": True, "value": nonce},
        exp={"essential": True},
    ).validate(claims)
    assert claims["acr"] == ACR
    assert claims["amr"] == ["hwk", "sc", "pin", "mfa"]
    # The identity is at userinfo, not in the ID token, which comes back in URLs.
    assert "vn_identifier" not in claims and "name" not in claims, claims
    info = rp.get(discovery(oidc)["userinfo_endpoint"]).json()
    assert info["sub"] == claims["sub"]
    assert info["vn_identifier"] == {"kind": "CCCD", "value": CCCD}


def test_a_reused_code_is_refused_and_revokes_what_it_gave(oidc, stack):
    cookie = browser_cookie(stack)
    rp, verifier = client(oidc), secrets.token_urlsafe(48)
    back = code_for(oidc, rp, cookie, verifier)
    endpoint = discovery(oidc)["token_endpoint"]
    first = rp.fetch_token(endpoint, authorization_response=back, code_verifier=verifier)
    with pytest.raises(OAuthError) as again:
        client(oidc).fetch_token(endpoint, authorization_response=back, code_verifier=verifier)
    assert again.value.error == "invalid_grant"
    r = requests.get(discovery(oidc)["userinfo_endpoint"], timeout=30,
                     headers={"Authorization": f"Bearer {first['access_token']}"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    # Operators see both answers, by portal and result, in /metrics.
    tokens = {
        (sample.labels["client"], sample.labels["result"]): sample.value
        for family in text_string_to_metric_families(requests.get(f"{oidc.issuer}/metrics", timeout=30).text)
        if family.name == "kyso_oidc_tokens"
        for sample in family.samples
        if sample.name == "kyso_oidc_tokens_total"
    }
    assert tokens.get(("rp-python", "issued"), 0) >= 1, tokens
    assert tokens.get(("rp-python", "invalid_grant"), 0) >= 1, tokens


def test_a_pkce_mismatch_an_expired_code_and_a_bad_secret_are_refused(oidc, stack):
    cookie = browser_cookie(stack)
    endpoint = discovery(oidc)["token_endpoint"]
    rp, verifier = client(oidc), secrets.token_urlsafe(48)
    back = code_for(oidc, rp, cookie, verifier)
    with pytest.raises(OAuthError) as wrong:
        rp.fetch_token(endpoint, authorization_response=back, code_verifier=secrets.token_urlsafe(48))
    assert wrong.value.error == "invalid_grant"

    rp, verifier = client(oidc, secret="not-the-secret-" + "x" * 20), secrets.token_urlsafe(48)
    back = code_for(oidc, rp, cookie, verifier)
    with pytest.raises(OAuthError) as bad_secret:
        rp.fetch_token(endpoint, authorization_response=back, code_verifier=verifier)
    assert bad_secret.value.error == "invalid_client"

    rp, verifier = client(oidc), secrets.token_urlsafe(48)
    back = code_for(oidc, rp, cookie, verifier)
    time.sleep(CODE_TTL + 1.5)
    with pytest.raises(OAuthError) as expired:
        rp.fetch_token(endpoint, authorization_response=back, code_verifier=verifier)
    assert expired.value.error == "invalid_grant"


def test_requests_the_provider_cannot_serve_are_refused_where_the_protocol_says(oidc, stack):
    authorize = discovery(oidc)["authorization_endpoint"]
    verifier = secrets.token_urlsafe(48)
    # A redirect URI that is not registered: a page for the person, never a redirect.
    rogue = OAuth2Session(client_id="rp-python", scope="openid", redirect_uri="https://evil.example/cb",
                          code_challenge_method="S256")
    url, _ = rogue.create_authorization_url(authorize, code_verifier=verifier)
    r = follow(url, None)
    assert r.status_code == 400 and "Location" not in r.headers
    assert "oidc-error" in r.text
    # Back to the portal as errors: an implicit-flow request, acr_values that cannot be
    # met, prompt=none without a session.
    cases = [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"acr_values": "http://idmanagement.gov/ns/assurance/ial/2"}, "unmet_authentication_requirements"),
        ({"prompt": "none"}, "login_required"),
    ]
    for params, error in cases:
        rp = client(oidc)
        url, state = rp.create_authorization_url(authorize, code_verifier=verifier)
        if "response_type" in params:
            url = url.replace("response_type=code", f"response_type={params.pop('response_type')}")
        url += "".join(f"&{k}={requests.utils.quote(v)}" for k, v in params.items())
        r = follow(url, None)
        assert r.status_code == 303, (error, r.text)
        answer = query(r.headers["Location"])
        assert r.headers["Location"].startswith(RP_CALLBACK)
        assert answer["error"] == error, answer
        assert answer["state"] == state and answer["iss"] == oidc.issuer
