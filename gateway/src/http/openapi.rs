//! The API's OpenAPI 3.1 description (design §4), served at `GET /openapi.json` and
//! committed as `docs/openapi.json` (a test fails when the two drift apart).
//!
//! Paths, parameters, request bodies and success bodies come from the handlers'
//! annotations and the wire types of [`super::api`]; this module adds what no type says:
//! which problem codes each operation can answer ([`refusals`]), one example per code,
//! `Retry-After` where a refusal is worth retrying, and `X-Request-Id` on every answer.

use super::api::ProblemDocument;
use super::{observe, page, routes};
use crate::domain::SimResult;
use axum::http::header;
use axum::response::IntoResponse;
use kyso_verify::error::ErrorCode;
use std::collections::BTreeMap;
use std::sync::LazyLock;
use utoipa::OpenApi;
use utoipa::openapi::example::ExampleBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, ObjectBuilder, Ref, RefOr, Response, ResponseBuilder, Type};

/// The annotated handlers and the schemas they name.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "kyso registration gateway",
        description = "Registration and login with a USB signing token (Web eID 1.0 tokens) or a signing SIM; IAL3 accounts keyed by CCCD/CMND or MST. Every refusal is an RFC 9457 problem document with a stable `code`; each operation lists the codes it can answer, one example each.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        routes::create_challenge,
        routes::register_token,
        routes::confirm,
        routes::login_token,
        routes::start_sim_registration,
        routes::start_sim_login,
        routes::sim_registration,
        routes::sim_login,
        routes::account_me,
        routes::linked_portals,
        routes::unlink_portal,
        routes::logout,
        routes::healthz,
        routes::readyz,
        observe::render,
        serve,
        page::index,
        page::asset,
        page::messages,
        page::config,
    ),
    components(schemas(ProblemDocument)),
    modifiers(&Refusals),
    tags(
        (name = "proof", description = "Challenges the person signs."),
        (name = "registration", description = "Creating an IAL3 account from a signature."),
        (name = "login", description = "Logging in with the same proof."),
        (name = "account", description = "The account of a session, and the portals linked to it."),
        (name = "operations", description = "Health, readiness, metrics and this description."),
        (name = "page", description = "The registration page the gateway serves itself."),
    ),
)]
struct ApiDoc;

/// The description, as served and committed: pretty JSON with a final newline, made
/// once (some 190 KB: served without a copy per request).
pub fn render() -> &'static str {
    static RENDERED: LazyLock<String> = LazyLock::new(|| {
        let mut text = ApiDoc::openapi()
            .to_pretty_json()
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
        text.push('\n');
        text
    });
    &RENDERED
}

/// `GET /openapi.json`: this description.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 description of this API.", body = serde_json::Value)),
)]
pub async fn serve() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], render())
}

use ErrorCode::*;

/// Refusals of every request with a JSON body, made before the handler runs.
const BODY: &[ErrorCode] = &[MalformedRequest, PayloadTooLarge, RequestTimeout];
/// The per-client rate limit and the shared pool of requests in progress.
const LIMITS: &[ErrorCode] = &[RateLimited, Overloaded];
/// The store and the system's randomness failing.
const FAILURES: &[ErrorCode] = &[StorageUnavailable, InternalError];
/// Everything the verification of a token or a SIM's signature can refuse with.
const CERTIFICATE: &[ErrorCode] = &[
    MalformedToken,
    UnsupportedAlgorithm,
    SignatureInvalid,
    WeakSignatureAlgorithm,
    WeakKey,
    CertWrongPurpose,
    CertExpired,
    CertNotYetValid,
    CertUntrusted,
    CertRevoked,
    RevocationUnavailable,
    NoIdentity,
    InvalidIdentifier,
];

/// The problem codes an operation can answer, by its operation id (the handler's name);
/// `None` for an operation this table forgot (a test fails on it).
pub fn refusals(operation: &str) -> Option<Vec<ErrorCode>> {
    // How a signing-SIM session can end without a signature: the results' own codes.
    let sim_outcome: Vec<ErrorCode> = SimResult::ALL
        .iter()
        .filter_map(|r| r.error_code())
        .collect();
    let sim_outcome = sim_outcome.as_slice();
    let parts: &[&[ErrorCode]] = match operation {
        "create_challenge" => &[BODY, LIMITS, FAILURES],
        "register_token" => &[
            BODY,
            LIMITS,
            FAILURES,
            &[ChallengeNotFound, ChallengeExpired],
            CERTIFICATE,
            &[SubjectTypeMismatch, AccountExists],
        ],
        "login_token" => &[
            BODY,
            LIMITS,
            FAILURES,
            &[ChallengeNotFound, ChallengeExpired],
            CERTIFICATE,
            &[AccountNotFound],
        ],
        "confirm" => &[
            BODY,
            LIMITS,
            FAILURES,
            &[
                TicketNotFound,
                EmailRequired,
                InvalidEmail,
                InvalidPhone,
                AccountExists,
            ],
        ],
        "start_sim_registration" | "start_sim_login" => {
            &[BODY, LIMITS, FAILURES, &[NotFound, InvalidPhone, Busy]]
        }
        "sim_registration" => &[
            &[
                MalformedRequest,
                NotFound,
                SimSessionNotFound,
                TicketNotFound,
            ],
            LIMITS,
            FAILURES,
            sim_outcome,
            CERTIFICATE,
            &[SubjectTypeMismatch, AccountExists],
        ],
        "sim_login" => &[
            &[MalformedRequest, NotFound, SimSessionNotFound],
            LIMITS,
            FAILURES,
            sim_outcome,
            CERTIFICATE,
            &[AccountNotFound],
        ],
        "account_me" | "linked_portals" | "logout" => {
            &[&[Unauthenticated, Overloaded, StorageUnavailable]]
        }
        "unlink_portal" => &[&[
            MalformedRequest,
            Unauthenticated,
            NotFound,
            Overloaded,
            StorageUnavailable,
        ]],
        "readyz" => &[&[StorageUnavailable, TrustUnavailable]],
        "render" => &[&[NotFound]],
        "asset" | "messages" => &[&[MalformedRequest, NotFound]],
        "healthz" | "serve" | "index" | "config" => &[],
        _ => return None,
    };
    Some(parts.iter().flat_map(|p| p.iter().copied()).collect())
}

/// A value of one answer that a next request takes (OpenAPI links, which stateful
/// testing follows).
struct NextStep {
    from: &'static str,
    status: &'static str,
    name: &'static str,
    to: &'static str,
    /// Where the value goes: a path parameter, or a field of the JSON body.
    into: Target,
    /// The answer's field.
    field: &'static str,
}

/// Where a linked value goes.
enum Target {
    Parameter(&'static str),
    BodyField(&'static str),
}

const LINKS: &[NextStep] = &[
    NextStep {
        from: "create_challenge",
        status: "201",
        name: "register_with_it",
        to: "register_token",
        into: Target::BodyField("challenge_id"),
        field: "challenge_id",
    },
    NextStep {
        from: "create_challenge",
        status: "201",
        name: "log_in_with_it",
        to: "login_token",
        into: Target::BodyField("challenge_id"),
        field: "challenge_id",
    },
    NextStep {
        from: "start_sim_registration",
        status: "202",
        name: "read_the_result",
        to: "sim_registration",
        into: Target::Parameter("id"),
        field: "session_id",
    },
    NextStep {
        from: "start_sim_login",
        status: "202",
        name: "read_the_result",
        to: "sim_login",
        into: Target::Parameter("id"),
        field: "session_id",
    },
];

impl NextStep {
    fn build(&self) -> utoipa::openapi::link::Link {
        let value = format!("$response.body#/{}", self.field);
        let link = utoipa::openapi::link::LinkBuilder::new().operation_id(self.to);
        match self.into {
            Target::Parameter(name) => link.parameter(name, value),
            Target::BodyField(name) => link.request_body(Some(serde_json::json!({ name: value }))),
        }
        .build()
    }
}

/// Adds the problem responses, `Retry-After`, `X-Request-Id` and the session scheme.
struct Refusals;

impl utoipa::Modify for Refusals {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        for item in doc.paths.paths.values_mut() {
            let operations = [
                item.get.as_mut(),
                item.post.as_mut(),
                item.put.as_mut(),
                item.delete.as_mut(),
            ];
            for operation in operations.into_iter().flatten() {
                let codes = operation
                    .operation_id
                    .as_deref()
                    .and_then(refusals)
                    .unwrap_or_default();
                let mut by_status: BTreeMap<u16, Vec<ErrorCode>> = BTreeMap::new();
                for code in codes {
                    by_status.entry(code.status()).or_default().push(code);
                }
                let responses = &mut operation.responses.responses;
                for link in LINKS
                    .iter()
                    .filter(|l| Some(l.from) == operation.operation_id.as_deref())
                {
                    if let Some(RefOr::T(response)) = responses.get_mut(link.status) {
                        response
                            .links
                            .insert(link.name.to_owned(), RefOr::T(link.build()));
                    }
                }
                for (status, codes) in by_status {
                    responses.insert(status.to_string(), RefOr::T(problem_response(&codes)));
                }
                for response in responses.values_mut() {
                    if let RefOr::T(response) = response {
                        response.headers.insert(
                            "X-Request-Id".to_owned(),
                            HeaderBuilder::new()
                                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                                .description(Some(
                                    "The client's own id when it sent a plain one (up to 64 \
                                     letters, digits, `-`, `_`, `.`), otherwise a new one.",
                                ))
                                .build()
                                .into(),
                        );
                    }
                }
            }
        }
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The `session_token` of a login."))
                    .build(),
            ),
        );
    }
}

/// One status's problem response: the codes, one example each.
fn problem_response(codes: &[ErrorCode]) -> Response {
    let names: Vec<&str> = codes.iter().map(|c| c.as_str()).collect();
    let examples = codes.iter().map(|&code| {
        let example = ExampleBuilder::new()
            .summary(super::messages::title(code, "en"))
            .value(Some(serde_json::json!({
                "type": format!("urn:kyso:error:{}", code.as_str()),
                "title": super::messages::title(code, "vi"),
                "status": code.status(),
                "code": code.as_str(),
                "detail": super::messages::title(code, "en"),
            })))
            .build();
        (code.as_str(), example)
    });
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("ProblemDocument")))
        .examples_from_iter(examples)
        .build();
    let mut response = ResponseBuilder::new()
        .description(format!("Refused: {}.", names.join(", ")))
        .content("application/problem+json", content);
    if matches!(codes.first().map(|c| c.status()), Some(429 | 503)) {
        response = response.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(Some(ObjectBuilder::new().schema_type(Type::Integer)))
                .description(Some("Seconds until the same request may succeed."))
                .build(),
        );
    }
    response.build()
}
