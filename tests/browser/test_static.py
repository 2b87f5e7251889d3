"""Checks on the page's files that need no browser and no running programs: the message
catalogues cover every error code, in both languages with the same keys, and the page
keeps to what its Content-Security-Policy allows."""

from __future__ import annotations

import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WEB = REPO / "gateway" / "web"
AGENT_CODES = ["TOKEN_NOT_PRESENT", "NO_CERTIFICATE", "PIN_INCORRECT", "PIN_LOCKED", "USER_CANCELLED",
               "ORIGIN_NOT_ALLOWED", "CALLER_NOT_ALLOWED", "BAD_REQUEST", "TOKEN_ERROR"]
PAGE_CODES = ["AGENT_UNREACHABLE", "NETWORK_ERROR", "UNKNOWN"]


def catalogue(lang: str) -> dict:
    return json.loads((WEB / "messages" / f"{lang}.json").read_text(encoding="utf-8"))


def flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _table(text: str, enum: str) -> list[str]:
    """Wire names of `enum` in an error.rs: code_table! rows `Variant = ("CODE", 400)` or
    `Variant => "CODE"` match arms."""
    start = text.find(f"pub enum {enum}")
    if start < 0:
        return []
    body = text[start:]
    rows = re.findall(r'=\s*\("([A-Z_]+)",\s*\d{3}\)', body[: body.find("\n    }\n") + 1 or None])
    if rows:
        return rows
    arms = text[text.find("pub fn as_str", start):]
    if "pub fn as_str" not in text[start:]:
        arms = text[text.find("pub fn code", start):]
    return re.findall(r'=> "([A-Z_]+)"', arms[: arms.find("\n    }\n")])


def _error_files() -> list[Path]:
    return sorted(REPO.glob("*/src/error.rs"))


def gateway_codes() -> list[str]:
    """The wire names of the gateway's ErrorCode, wherever error.rs lives in the workspace."""
    for path in _error_files():
        codes = _table(path.read_text(encoding="utf-8"), "ErrorCode")
        if codes:
            return codes
    raise AssertionError("no ErrorCode table in */src/error.rs")


def agent_codes() -> list[str]:
    """The agent's codes: an AgentCode table if the workspace has one, else ShimError::code."""
    for path in _error_files():
        codes = _table(path.read_text(encoding="utf-8"), "AgentCode")
        if codes:
            return codes
    text = (REPO / "pkcs11-shim" / "src" / "error.rs").read_text(encoding="utf-8")
    return re.findall(r'=> "([A-Z_]+)"', text)


# The 38 gateway codes the page was written against (gateway/src/error.rs at the time).
KNOWN_GATEWAY_CODES = [
    "MALFORMED_REQUEST", "PAYLOAD_TOO_LARGE", "RATE_LIMITED", "MALFORMED_TOKEN", "UNSUPPORTED_ALGORITHM",
    "CHALLENGE_NOT_FOUND", "CHALLENGE_EXPIRED", "SIGNATURE_INVALID", "WEAK_SIGNATURE_ALGORITHM", "WEAK_KEY",
    "CERT_WRONG_PURPOSE", "CERT_EXPIRED", "CERT_NOT_YET_VALID", "CERT_UNTRUSTED", "CERT_REVOKED",
    "REVOCATION_UNAVAILABLE", "NO_IDENTITY", "INVALID_IDENTIFIER", "SUBJECT_TYPE_MISMATCH", "ACCOUNT_EXISTS",
    "ACCOUNT_NOT_FOUND", "TICKET_NOT_FOUND", "EMAIL_REQUIRED", "INVALID_EMAIL", "INVALID_PHONE",
    "UNAUTHENTICATED", "NOT_FOUND", "SIM_SESSION_NOT_FOUND", "BUSY", "USER_REFUSED", "EXPIRED",
    "NOT_ENROLLED", "PIN_BLOCKED", "DELIVERY_FAILED", "DEVICE_ERROR", "VERIFICATION_FAILED",
    "PROVIDER_ERROR", "STORAGE_UNAVAILABLE",
]


def test_the_workspace_codes_are_found():
    assert len(KNOWN_GATEWAY_CODES) == 38
    assert set(KNOWN_GATEWAY_CODES) <= set(gateway_codes())
    assert set(AGENT_CODES) <= set(agent_codes())


def test_both_languages_have_the_same_keys():
    vi, en = flat(catalogue("vi")), flat(catalogue("en"))
    assert sorted(vi) == sorted(en)
    for key, value in vi.items():
        assert isinstance(value, str) and value.strip(), key
        assert re.findall(r"\{\w+\}", value) == re.findall(r"\{\w+\}", en[key]) or key.startswith("errors."), key


def test_every_error_code_has_a_title_and_guidance():
    codes = set(KNOWN_GATEWAY_CODES) | set(gateway_codes()) | set(agent_codes()) | set(AGENT_CODES) | set(PAGE_CODES)
    for lang in ("vi", "en"):
        errors = catalogue(lang)["errors"]
        for code in codes:
            assert code in errors, f"{lang}: errors.{code}"
            assert errors[code]["title"].strip() and errors[code]["guidance"].strip(), f"{lang}: {code}"


def test_vietnamese_is_written_with_diacritics():
    vi = catalogue("vi")
    assert vi["register"]["citizen"] == "Công dân"
    assert vi["register"]["enterprise"] == "Doanh nghiệp"
    assert vi["register"]["ial3"] == "Xác minh mức độ cao (IAL3)"
    assert vi["register"]["usb"] == "USB ký số" and vi["register"]["sim"] == "SIM ký số"
    assert vi["usb"]["pin_title"] == "Nhập mã PIN trên cửa sổ của phần mềm ký số"
    assert "nhà cung cấp chứng thư số" in vi["errors"]["CERT_EXPIRED"]["guidance"]
    assert "quầy tiếp nhận" in vi["errors"]["ACCOUNT_EXISTS"]["guidance"]


def test_no_inline_script_or_style():
    html = (WEB / "index.html").read_text(encoding="utf-8")
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script>"
    assert "<style" not in html and not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"
    assert not re.search(r"(src|href)=\"https?://", html), "external resource"


def test_scripts_build_the_dom_without_parsing_html():
    for path in (WEB / "assets").glob("*.js"):
        code = path.read_text(encoding="utf-8")
        for pattern in (r"\.(inner|outer)HTML\b", r"insertAdjacentHTML", r"document\.write", r"\beval\(",
                        r"new Function", r"\.style\.", r"setAttribute\(\s*['\"]style"):
            assert not re.search(pattern, code), f"{path.name}: {pattern}"
        # No resource from elsewhere: only the agent's default loopback URL and the SVG namespace.
        for url in re.findall(r"https?://[^\s\"'`]+", code):
            assert url.startswith(("http://127.0.0.1:18765", "http://www.w3.org/2000/svg")), f"{path.name}: {url}"


def test_css_has_no_external_resources():
    css = (WEB / "assets" / "app.css").read_text(encoding="utf-8")
    assert "@import" not in css and "url(" not in css


def test_every_claim_a_portal_can_receive_has_its_label_in_both_languages():
    """The account page names each claim a linked portal receives (portals.js), as the
    gateway lists them (claims_of_scope in gateway/src/oidc/claims.rs)."""
    source = (REPO / "gateway" / "src" / "oidc" / "claims.rs").read_text(encoding="utf-8")
    body = source[source.index("pub fn claims_of_scope"):]
    body = body[: body.index("\n}\n")]
    claims = {c for released in re.findall(r"&\[(.*?)\]", body, re.S)
              for c in re.findall(r'"([a-z_]+)"', released)}
    assert {"name", "vn_identifier", "email_verified"} <= claims, claims
    for lang in ("vi", "en"):
        labels = catalogue(lang)["portals"]["claims"]
        assert claims <= set(labels), f"{lang}: {sorted(claims - set(labels))}"
