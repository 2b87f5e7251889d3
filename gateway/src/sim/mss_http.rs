//! [`Mssp`] over HTTP in the simulator's protocol (`kyso_proto::mss`, design §3): the AP
//! authenticates with HTTP Basic (AP id and secret), statuses are ETSI TS 102 204 codes.
//!
//! Every call has a time limit (the long-poll wait plus `http_timeout`) and a body size
//! limit. An answer this client cannot read, or a status it does not know, is
//! [`MssError::Garbled`] (the session ends `PROVIDER_ERROR`); a connection failure or
//! timeout is [`MssError::Unreachable`] (retried).
//!
//! ETSI status → result ([`result_of`]):
//!
//! | ETSI TS 102 204 | result |
//! |---|---|
//! | 401 USER_CANCEL | `USER_REFUSED` |
//! | 208 EXPIRED_TRANSACTION | `EXPIRED` |
//! | 404 NO_KEY_FOUND | `NOT_ENROLLED` |
//! | 402 PIN_BLOCKED | `PIN_BLOCKED` |
//! | 209 OTA_ERROR | `DELIVERY_FAILED` |
//! | 900 INTERNAL_ERROR | `DEVICE_ERROR` |
//! | 406 PB_SIGNATURE_PROCESS | `BUSY` |
//! | 101–105 (our request or credentials refused), anything else | `PROVIDER_ERROR` |

use super::mssp::{MssError, MssRequest, MssSignature, MssStatus, Mssp};
use crate::domain::SimResult;
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kyso_proto::mss::{SignatureAccepted, SignatureRequest, SignatureStatus, Status, StatusCode};
use serde::Deserialize;
use std::time::Duration;

/// Largest answer read from the operator.
const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// The operator's ETSI status as one of our results; `None` for statuses that are not
/// an end (100, 500, 504) or that this client does not know.
pub fn result_of(code: u16) -> Option<SimResult> {
    use StatusCode as S;
    Some(match StatusCode::from_code(code)? {
        S::UserCancel => SimResult::UserRefused,
        S::ExpiredTransaction => SimResult::Expired,
        S::NoKeyFound => SimResult::NotEnrolled,
        S::PinBlocked => SimResult::PinBlocked,
        S::OtaError => SimResult::DeliveryFailed,
        S::InternalError => SimResult::DeviceError,
        S::PbSignatureProcess => SimResult::Busy,
        S::WrongParam | S::MissingParam | S::WrongDataLength | S::UnauthorizedAccess => {
            SimResult::ProviderError
        }
        S::RequestOk | S::Signature | S::OutstandingTransaction => return None,
    })
}

/// The simulator's protocol over HTTP.
#[derive(Clone)]
pub struct HttpMssp {
    client: reqwest::Client,
    base_url: String,
    ap_id: String,
    ap_secret: String,
    http_timeout: Duration,
}

impl std::fmt::Debug for HttpMssp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpMssp")
            .field("base_url", &self.base_url)
            .field("ap_id", &self.ap_id)
            .field("ap_secret", &"…")
            .finish()
    }
}

/// Any answer carries a status; read that first.
#[derive(Deserialize)]
struct StatusOnly {
    status: Status,
}

impl HttpMssp {
    /// A client for the MSSP at `base_url`, authenticating as `ap_id`; every call is
    /// limited to its long-poll wait plus `http_timeout`.
    pub fn new(
        base_url: &str,
        ap_id: &str,
        ap_secret: &str,
        http_timeout: Duration,
    ) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .connect_timeout(http_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("kyso-gateway/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            client,
            base_url: base_url.trim_end_matches('/').to_owned(),
            ap_id: ap_id.to_owned(),
            ap_secret: ap_secret.to_owned(),
            http_timeout,
        })
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        wait: Duration,
    ) -> Result<Vec<u8>, MssError> {
        let response = request
            .basic_auth(&self.ap_id, Some(&self.ap_secret))
            .timeout(wait + self.http_timeout)
            .send()
            .await
            .map_err(|e| MssError::Unreachable(e.to_string()))?;
        let status = response.status();
        let body = crate::http_client::read_limited(response, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| match e {
                crate::http_client::ReadError::TooLarge(_) => MssError::Garbled(e.to_string()),
                crate::http_client::ReadError::Transport(t) => MssError::Unreachable(t),
            })?;
        if status.is_server_error() && serde_json::from_slice::<StatusOnly>(&body).is_err() {
            return Err(MssError::Unreachable(format!("HTTP {status}")));
        }
        Ok(body)
    }
}

fn garbled(e: impl std::fmt::Display) -> MssError {
    MssError::Garbled(e.to_string())
}

fn status_of(body: &[u8]) -> Result<u16, MssError> {
    serde_json::from_slice::<StatusOnly>(body)
        .map(|s| s.status.code)
        .map_err(garbled)
}

fn ended(code: u16) -> Result<SimResult, MssError> {
    result_of(code).ok_or_else(|| garbled(format!("unexpected status {code}")))
}

#[async_trait]
impl Mssp for HttpMssp {
    async fn request_signature(
        &self,
        request: &MssRequest,
    ) -> Result<Result<String, SimResult>, MssError> {
        let body = SignatureRequest {
            ap_trans_id: request.ap_trans_id.clone(),
            msisdn: request.msisdn.clone(),
            data_to_be_signed: STANDARD.encode(&request.data_to_be_signed),
            data_to_be_displayed: request.display_text.clone(),
            timeout_s: u32::try_from(request.timeout.as_secs()).unwrap_or(u32::MAX),
        };
        let url = format!("{}/mss/v1/signature", self.base_url);
        let answer = self
            .send(self.client.post(url).json(&body), Duration::ZERO)
            .await?;
        let code = status_of(&answer)?;
        if code != StatusCode::RequestOk as u16 {
            return ended(code).map(Err);
        }
        let accepted: SignatureAccepted = serde_json::from_slice(&answer).map_err(garbled)?;
        match accepted.mssp_trans_id {
            Some(id) if !id.is_empty() && id.len() <= 128 => Ok(Ok(id)),
            _ => Err(garbled("REQUEST_OK without a usable mssp_trans_id")),
        }
    }

    async fn status(&self, mssp_trans_id: &str, wait: Duration) -> Result<MssStatus, MssError> {
        if !mssp_trans_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(garbled("the operator's transaction id is not URL-safe"));
        }
        let url = format!(
            "{}/mss/v1/signature/{mssp_trans_id}?wait_ms={}",
            self.base_url,
            wait.as_millis()
        );
        let answer = self.send(self.client.get(url), wait).await?;
        let code = status_of(&answer)?;
        if code == StatusCode::OutstandingTransaction as u16 {
            return Ok(MssStatus::Outstanding);
        }
        if code != StatusCode::Signature as u16 {
            return ended(code).map(MssStatus::Failed);
        }
        let signed: SignatureStatus = serde_json::from_slice(&answer).map_err(garbled)?;
        if signed.mssp_trans_id != mssp_trans_id {
            return Err(garbled("the answer is about another transaction"));
        }
        let decode = |b64: &str| STANDARD.decode(b64).map_err(garbled);
        let signature = decode(signed.signature.as_deref().unwrap_or_default())?;
        let certificate_chain = signed
            .certificate_chain
            .iter()
            .map(|c| decode(c))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(MssStatus::Signed(MssSignature {
            signature,
            algorithm: signed.algorithm.unwrap_or_default(),
            certificate_chain,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_etsi_fault_has_one_result_and_progress_codes_none() {
        let expected = [
            (401, SimResult::UserRefused),
            (208, SimResult::Expired),
            (404, SimResult::NotEnrolled),
            (402, SimResult::PinBlocked),
            (209, SimResult::DeliveryFailed),
            (900, SimResult::DeviceError),
            (406, SimResult::Busy),
            (104, SimResult::ProviderError),
            (101, SimResult::ProviderError),
        ];
        for (code, result) in expected {
            assert_eq!(result_of(code), Some(result), "{code}");
        }
        for code in [100, 500, 504, 0, 999, 403] {
            assert_eq!(result_of(code), None, "{code}");
        }
    }
}
