//! The registration page (design §13): `gateway/web/`, embedded in the binary and served
//! from `/`, with the headers that keep it safe: a strict Content-Security-Policy (no
//! inline script; connections only to this origin and the local signing agent), no
//! framing, no MIME sniffing, no referrer, and HSTS when the public origin is https.
//!
//! The page reads `GET /config.json` at start: where the agent listens, whether signing
//! SIMs are available, and the public origin (shown in the command that starts the agent
//! for it).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The page's files, as `(path, bytes)`: the one list of what is embedded. A unit test
/// checks it against the folder, so a new file cannot be forgotten.
pub const FILES: [(&str, &[u8]); 17] = [
    ("index.html", include_bytes!("../../web/index.html")),
    ("assets/api.js", include_bytes!("../../web/assets/api.js")),
    ("assets/app.css", include_bytes!("../../web/assets/app.css")),
    ("assets/app.js", include_bytes!("../../web/assets/app.js")),
    ("assets/dom.js", include_bytes!("../../web/assets/dom.js")),
    (
        "assets/errors.js",
        include_bytes!("../../web/assets/errors.js"),
    ),
    (
        "assets/format.js",
        include_bytes!("../../web/assets/format.js"),
    ),
    ("assets/i18n.js", include_bytes!("../../web/assets/i18n.js")),
    (
        "assets/icons.js",
        include_bytes!("../../web/assets/icons.js"),
    ),
    (
        "assets/portals.js",
        include_bytes!("../../web/assets/portals.js"),
    ),
    (
        "assets/preview.js",
        include_bytes!("../../web/assets/preview.js"),
    ),
    (
        "assets/session.js",
        include_bytes!("../../web/assets/session.js"),
    ),
    ("assets/sim.js", include_bytes!("../../web/assets/sim.js")),
    ("assets/usb.js", include_bytes!("../../web/assets/usb.js")),
    (
        "assets/views.js",
        include_bytes!("../../web/assets/views.js"),
    ),
    (
        "messages/vi.json",
        include_bytes!("../../web/messages/vi.json"),
    ),
    (
        "messages/en.json",
        include_bytes!("../../web/messages/en.json"),
    ),
];

/// What the page is told about this gateway, and the headers it is served with.
#[derive(Debug, Clone)]
pub struct PageSettings {
    /// Where the signing agent listens (`http://127.0.0.1:18765`).
    pub agent_url: String,
    /// Whether signing-SIM registration is configured.
    pub sim_enabled: bool,
    /// The public origin (`https://host[:port]`).
    pub origin: String,
}

/// The headers every response of the gateway carries.
#[derive(Debug, Clone)]
pub struct SecurityHeaders {
    csp: HeaderValue,
    hsts: Option<HeaderValue>,
}

/// The origin of a URL: `scheme://host[:port]`.
fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
}

impl SecurityHeaders {
    /// The policy for a page whose agent listens at `agent_url`, on `public_origin`.
    pub fn new(agent_url: &str, public_origin: &str) -> Self {
        let csp = format!(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self' {}; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
            origin_of(agent_url)
        );
        Self {
            csp: HeaderValue::from_str(&csp)
                .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'")),
            hsts: public_origin
                .starts_with("https://")
                .then(|| HeaderValue::from_static("max-age=31536000; includeSubDomains")),
        }
    }

    /// Adds the headers to `headers` (keeping any a handler set).
    pub(super) fn apply(&self, headers: &mut HeaderMap) {
        let mut set = |name: header::HeaderName, value: HeaderValue| {
            headers.entry(name).or_insert(value);
        };
        set(header::CONTENT_SECURITY_POLICY, self.csp.clone());
        set(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        set(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        set(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        // Answers carry bearer secrets (a SIM session's token, tickets, the account): no
        // cache on the way may keep one. Handlers that may be cached say so themselves.
        set(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        set(
            header::HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        );
        if let Some(hsts) = &self.hsts {
            set(header::STRICT_TRANSPORT_SECURITY, hsts.clone());
        }
    }
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// One embedded file, or `None`.
fn file(path: &str) -> Option<Response> {
    let (_, bytes) = FILES.iter().find(|(p, _)| *p == path)?;
    Some(
        (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, content_type(path)),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *bytes,
        )
            .into_response(),
    )
}

fn not_found() -> Response {
    super::ApiError::new(kyso_verify::error::ErrorCode::NotFound, "no such file").into_response()
}

/// `GET /`: the page.
#[utoipa::path(
    get,
    path = "/",
    tag = "page",
    responses((status = 200, description = "The registration page.", content_type = "text/html", body = String)),
)]
pub async fn index() -> Response {
    file("index.html").unwrap_or_else(not_found)
}

/// `GET /assets/{name}`.
#[utoipa::path(
    get,
    path = "/assets/{name}",
    tag = "page",
    params(("name" = String, Path, description = "A file of the page.", example = "app.js")),
    responses((status = 200, description = "The page's script or style sheet.", content(
        (String = "text/javascript"),
        (String = "text/css"),
    ))),
)]
pub async fn asset(Path(name): Path<String>) -> Response {
    file(&format!("assets/{name}")).unwrap_or_else(not_found)
}

/// `GET /messages/{name}` (`vi.json`, `en.json`).
#[utoipa::path(
    get,
    path = "/messages/{name}",
    tag = "page",
    params(("name" = String, Path, description = "`vi.json` or `en.json`.", example = "vi.json")),
    responses((status = 200, description = "The page's texts in one language, grouped by screen.", body = serde_json::Value)),
)]
pub async fn messages(Path(name): Path<String>) -> Response {
    file(&format!("messages/{name}")).unwrap_or_else(not_found)
}

/// What the page is told about this gateway.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct PageConfig {
    /// The local signing agent the page talks to.
    #[schema(example = "http://127.0.0.1:18765")]
    pub agent_url: String,
    /// Whether the signing-SIM tab is offered.
    pub sim_enabled: bool,
    /// The gateway's public origin.
    #[schema(example = "https://dichvucong.example.vn")]
    pub origin: String,
}

/// `GET /config.json`.
#[utoipa::path(
    get,
    path = "/config.json",
    tag = "page",
    responses((status = 200, description = "What the page needs to know about this gateway.", body = PageConfig)),
)]
pub async fn config(State(state): State<super::AppState>) -> impl IntoResponse {
    let settings = &state.page;
    (
        [(header::CACHE_CONTROL, "no-cache")],
        Json(PageConfig {
            agent_url: settings.agent_url.clone(),
            sim_enabled: settings.sim_enabled,
            origin: settings.origin.clone(),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_the_page_is_embedded() {
        let web = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
        let mut on_disk = Vec::new();
        for folder in ["", "assets", "messages"] {
            for entry in std::fs::read_dir(web.join(folder)).unwrap() {
                let entry = entry.unwrap();
                let name = entry.file_name().into_string().unwrap();
                if entry.file_type().unwrap().is_file() && name != "README.md" {
                    on_disk.push(if folder.is_empty() {
                        name
                    } else {
                        format!("{folder}/{name}")
                    });
                }
            }
        }
        on_disk.sort();
        let mut embedded: Vec<String> = FILES.iter().map(|(p, _)| (*p).to_owned()).collect();
        embedded.sort();
        assert_eq!(embedded, on_disk);
    }

    #[test]
    fn the_policy_allows_only_this_origin_and_the_agent() {
        let h = SecurityHeaders::new("http://127.0.0.1:18765/", "https://dichvucong.vn");
        let mut headers = HeaderMap::new();
        h.apply(&mut headers);
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(
            csp.contains("connect-src 'self' http://127.0.0.1:18765;"),
            "{csp}"
        );
        assert!(csp.contains("script-src 'self';") && !csp.contains("unsafe"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(headers.contains_key(header::STRICT_TRANSPORT_SECURITY));
        let plain = SecurityHeaders::new("http://127.0.0.1:18765", "http://localhost:8080");
        let mut headers = HeaderMap::new();
        plain.apply(&mut headers);
        assert!(
            !headers.contains_key(header::STRICT_TRANSPORT_SECURITY),
            "no HSTS on http"
        );
    }
}
