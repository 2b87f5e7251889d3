//! The two pages the provider renders on the server, with no script: the consent screen
//! and the error page (shown instead of redirecting when a portal or its redirect URI
//! cannot be trusted). Vietnamese first, English beside it, as on kyso's page, whose
//! style sheet they use. Every value from a request is escaped.

use crate::oidc::ConsentScreen;
use crate::oidc::claims::claims_of_scope;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// `s` safe inside HTML text and double-quoted attributes.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"vi\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title>\
         <link rel=\"icon\" href=\"data:,\"><link rel=\"stylesheet\" href=\"/assets/app.css\"></head>\
         <body><main id=\"main\" class=\"content\">{body}</main></body></html>\n"
    )
}

/// What a claim is, in both languages.
fn claim_label(claim: &str) -> (&'static str, &'static str) {
    match claim {
        "name" => ("Họ và tên", "Full name"),
        "vn_subject_type" => (
            "Loại tài khoản (công dân/tổ chức)",
            "Account type (citizen/organization)",
        ),
        "vn_identifier" => (
            "Số định danh (CCCD hoặc mã số thuế)",
            "Identity number (CCCD or tax code)",
        ),
        "vn_aliases" => (
            "Các số giấy tờ khác (CMND…)",
            "Other identity numbers (CMND…)",
        ),
        "vn_organization" => ("Tên tổ chức", "Organization name"),
        "email" => ("Thư điện tử", "Email"),
        "phone_number" => ("Số điện thoại", "Phone number"),
        "email_verified" => (
            "Ghi chú: thư điện tử do bạn tự khai, chưa được xác minh",
            "note: the email is as you gave it, not verified",
        ),
        "phone_number_verified" => (
            "Ghi chú: số điện thoại do bạn tự khai, chưa được xác minh",
            "note: the phone number is as you gave it, not verified",
        ),
        _ => ("", ""),
    }
}

/// The error page.
pub fn error(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<h1 id=\"page-title\">Không thể tiếp tục đăng nhập</h1>\
         <p lang=\"en\" class=\"hint\">The sign-in cannot continue.</p>\
         <p data-testid=\"oidc-error\" lang=\"en\">{}</p>\
         <p>Vui lòng quay lại cổng dịch vụ và thử lại. <span lang=\"en\">Go back to the portal and try again.</span></p>",
        escape(message)
    );
    html(status, "Lỗi đăng nhập / Sign-in error", &body)
}

/// The consent screen: the portal, what it will receive, allow or deny. Its policy lets
/// the form post here and then follow the redirect to the portal's origin only.
pub fn consent(screen: &ConsentScreen) -> Response {
    let mut items = String::new();
    for scope in &screen.scopes {
        for claim in claims_of_scope(scope) {
            let (vi, en) = claim_label(claim);
            items.push_str(&format!(
                "<li data-testid=\"consent-claim\" data-claim=\"{claim}\">{vi} <span lang=\"en\" class=\"hint\">({en})</span></li>"
            ));
        }
    }
    let portal = escape(&screen.portal);
    let body = format!(
        "<h1 id=\"page-title\">Liên kết tài khoản với {portal}</h1>\
         <p lang=\"en\" class=\"hint\">Link your account with {portal}</p>\
         <p><strong data-testid=\"consent-portal\">{portal}</strong> sẽ nhận được: \
         <span lang=\"en\" class=\"hint\">will receive:</span></p>\
         <ul data-testid=\"consent-claims\">{items}<li>Mức độ xác minh IAL3 và cách đăng nhập \
         <span lang=\"en\" class=\"hint\">(assurance level IAL3 and how you signed in)</span></li></ul>\
         <form method=\"post\" action=\"/oidc/consent\">\
         <input type=\"hidden\" name=\"request\" value=\"{request}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <div class=\"actions\">\
         <button type=\"submit\" name=\"decision\" value=\"allow\" class=\"button primary\" data-testid=\"consent-allow\">Đồng ý <span lang=\"en\">(Allow)</span></button> \
         <button type=\"submit\" name=\"decision\" value=\"deny\" class=\"button\" data-testid=\"consent-deny\">Từ chối <span lang=\"en\">(Deny)</span></button>\
         </div></form>",
        request = escape(&screen.request),
        csrf = escape(&screen.csrf),
    );
    with_form_policy(
        html(
            StatusCode::OK,
            "Liên kết tài khoản / Link your account",
            &body,
        ),
        &screen.redirect_origin,
    )
}

/// The headers of a page with a form that posts here and is then redirected to
/// `redirect_origin` (a portal; empty for none): a policy allowing exactly those form
/// targets (browsers check the redirect too), and `Referrer-Policy: same-origin`, under
/// which the post carries its `Origin` (the gateway's usual `no-referrer` makes it
/// `null`) and still no referrer reaches the portal.
fn with_form_policy(mut response: Response, redirect_origin: &str) -> Response {
    let csp = format!(
        "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; \
         base-uri 'none'; form-action 'self' {redirect_origin}"
    );
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(csp.trim_end()) {
        headers.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// Asks the person to confirm a logout no portal vouched for. Its policy lets the form
/// post here and then follow the redirect to the portal's `redirect_origin` only.
pub fn logout_confirm(request: &str, csrf: &str, redirect_origin: Option<&str>) -> Response {
    let body = format!(
        "<h1 id=\"page-title\">Đăng xuất khỏi tài khoản định danh?</h1>\
         <p lang=\"en\" class=\"hint\">Log out of your identity account?</p>\
         <p>Các cổng dịch vụ đã liên kết cũng được báo để đăng xuất. \
         <span lang=\"en\" class=\"hint\">Linked portals are told to log you out too.</span></p>\
         <form method=\"post\" action=\"/oidc/logout\">\
         <input type=\"hidden\" name=\"request\" value=\"{}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <div class=\"actions\"><button type=\"submit\" class=\"button primary\" data-testid=\"logout-confirm\">\
         Đăng xuất <span lang=\"en\">(Log out)</span></button></div></form>",
        escape(request),
        escape(csrf)
    );
    with_form_policy(
        html(StatusCode::OK, "Đăng xuất / Log out", &body),
        redirect_origin.unwrap_or_default(),
    )
}

/// Says the person is logged out.
pub fn logged_out() -> Response {
    let body = "<h1 id=\"page-title\" data-testid=\"logged-out\">Bạn đã đăng xuất</h1>\
                <p lang=\"en\" class=\"hint\">You are logged out.</p>";
    html(StatusCode::OK, "Đăng xuất / Logged out", body)
}

fn html(status: StatusCode, title: &str, body: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page(title, body),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_values_cannot_break_out_of_the_page() {
        assert_eq!(escape(r#"<script>"a'&"#), "&lt;script&gt;&quot;a&#39;&amp;");
        let screen = ConsentScreen {
            portal: "<b>Portal</b>".into(),
            scopes: vec!["openid".into(), "profile".into()],
            request: "a=\"><script>x</script>".into(),
            csrf: "c".into(),
            redirect_origin: "https://a.gov.vn".into(),
        };
        let response = consent(&screen);
        let csp = response.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(
            csp.ends_with("form-action 'self' https://a.gov.vn"),
            "{csp}"
        );
    }

    #[test]
    fn every_claim_a_scope_releases_has_a_label() {
        for scope in crate::oidc::claims::SCOPES {
            for claim in claims_of_scope(scope) {
                assert!(!claim_label(claim).0.is_empty(), "{claim}");
            }
        }
    }
}
