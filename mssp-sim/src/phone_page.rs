//! `GET /phone/{msisdn}`: the simulated phone screen, one self-contained HTML file
//! (`phone_page.html`) with its script and style inline and no external resources.
//!
//! The page takes the number from its own URL and talks to the device API with
//! `fetch()`, so the server never writes request data into HTML. Its Content Security
//! Policy allows exactly the page's inline script and style (by SHA-256 hash) and
//! connections to this server.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::sync::LazyLock;

/// The page.
pub const PAGE: &str = include_str!("phone_page.html");

/// The text between `<tag>` and `</tag>` in the page.
fn inline(tag: &str) -> Option<&'static str> {
    let open = format!("<{tag}>");
    let start = PAGE.find(&open)? + open.len();
    let end = start + PAGE[start..].find(&format!("</{tag}>"))?;
    Some(&PAGE[start..end])
}

fn csp_hash(tag: &str) -> String {
    inline(tag).map_or_else(
        || "'none'".to_owned(),
        |body| {
            let h = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body.as_bytes());
            format!("'sha256-{}'", STANDARD.encode(h.as_ref()))
        },
    )
}

/// The page's Content Security Policy.
pub static CONTENT_SECURITY_POLICY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        csp_hash("script"),
        csp_hash("style"),
    )
});

/// Serves the page with its security headers.
pub(crate) async fn phone_page() -> Response {
    let mut r = PAGE.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&CONTENT_SECURITY_POLICY) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_the_inline_script_and_style() {
        assert!(inline("script").is_some_and(|s| s.contains("fetch(")));
        assert!(inline("style").is_some_and(|s| s.contains(".code")));
        let csp = CONTENT_SECURITY_POLICY.as_str();
        assert_eq!(csp.matches("'sha256-").count(), 2, "{csp}");
        assert!(!csp.contains("unsafe-inline"));
    }

    #[test]
    fn the_page_is_vietnamese_first_and_never_uses_inner_html() {
        for text in [
            "Yêu cầu ký số",
            "Mã xác nhận",
            "Nhập mã PIN",
            "Xác nhận",
            "Từ chối",
        ] {
            assert!(PAGE.contains(text), "{text}");
        }
        assert!(PAGE.contains("lang=\"vi\""));
        assert!(!PAGE.contains("innerHTML"));
        assert!(!PAGE.contains("http://") && !PAGE.contains("https://"));
    }
}
