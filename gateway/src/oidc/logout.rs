//! Ending sign-ins: RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0), the
//! back-channel logout tokens sent to portals (OpenID Connect Back-Channel Logout 1.0),
//! and the account page's linked portals with the withdrawal of a portal's consent.
//!
//! A logout request carrying one of the provider's own ID tokens for the person who is
//! logged in ends the session at once; any other (no hint, or a hint for someone else)
//! is asked to confirm with a form, so a link on a hostile page cannot log the person
//! out. A post-logout redirect is made only to a URI registered for the portal that the
//! hint or `client_id` names (§3). A part of the request that fails validation (a hint
//! this provider cannot verify, a `client_id` the hint contradicts, an unregistered
//! redirect) is treated as not sent (§4): the person is asked, and no redirect is made
//! (a request with an unverifiable or contradicted hint names no portal believed).

use super::provider::{Form, Provider};
use super::request::{MAX_PARAMETER, Params};
use crate::domain::account::bearer_hash;
use crate::domain::oidc::Consent;
use crate::service::store_failed;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kyso_verify::error::{ErrorCode, Rejection};
use serde_json::json;
use std::time::Duration;

/// Seconds an ID token's `iat` may precede its session's proof and still count as
/// issued during that session (the clocks of instances differ a little).
const HINT_CLOCK_LEEWAY: i64 = 60;
/// The back-channel logout event (Back-Channel Logout 1.0 §2.4).
const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// How long one portal's back-channel endpoint may take.
const BACKCHANNEL_TIMEOUT: Duration = Duration::from_secs(5);

/// What the logout endpoint answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Logout {
    /// The store could not be asked: a 503 page; the person may try again.
    Unavailable,
    /// A request refused: a 400 page saying why.
    Refused(&'static str),
    /// Ask the person to confirm: the request to post back, and the form's CSRF token.
    Confirm {
        /// The logout request, posted back.
        request: String,
        /// The CSRF token of the browser session and this request.
        csrf: String,
        /// The origin the confirmed form is redirected to, if a portal asked.
        redirect_origin: Option<String>,
    },
    /// Logged out (or there was no session): where to go, if a portal asked.
    Done(Option<String>),
}

impl Provider {
    /// RP-initiated logout: `query` as sent, `session` the browser session's token,
    /// `confirmed` when the person confirmed with the form (`csrf` its token).
    pub async fn logout(
        &self,
        query: &str,
        session: Option<&str>,
        confirmed: Option<&str>,
    ) -> Logout {
        // What fails validation is treated as not sent (RP-Initiated Logout 1.0 §4): no
        // redirect, and no logout without asking. A refusal page instead would keep the
        // session — a shared computer left signed in after the portal said goodbye.
        // Too long to carry back through the confirmation form: not sent either.
        let query = if query.len() > MAX_PARAMETER {
            ""
        } else {
            query
        };
        let params = Params::parse(query).unwrap_or_default();
        let hint = params
            .get("id_token_hint")
            .and_then(|token| self.own_id_token(token));
        let hinted_client = hint.as_ref().and_then(|h| h["aud"].as_str());
        let named = params.get("client_id");
        // A hint that cannot be verified, or a `client_id` and a hint that name different
        // portals: no portal named is believed, so no redirect is made (§4).
        let unverified = params.get("id_token_hint").is_some() && hint.is_none();
        let contradicted = matches!((named, hinted_client), (Some(a), Some(b)) if a != b);
        let client_id = if contradicted || unverified {
            None
        } else {
            named.or(hinted_client)
        };
        let back = params
            .get("post_logout_redirect_uri")
            .filter(|uri| {
                client_id
                    .and_then(|id| self.client_config(id))
                    .is_some_and(|c| c.post_logout_redirect_uris.iter().any(|u| u == uri))
            })
            .and_then(|uri| url::Url::parse(uri).ok())
            .map(|mut url| {
                // A `state` longer than the authorization endpoint echoes is treated as
                // not sent (§4): nobody's URL carries a stranger's 24 KB back.
                if let Some(state) = params
                    .get("state")
                    .filter(|s| s.len() <= super::request::MAX_ECHOED)
                {
                    url.query_pairs_mut().append_pair("state", state);
                }
                String::from(url)
            });
        let hint = if contradicted { None } else { hint };
        let Some(token) = session else {
            return Logout::Done(back);
        };
        let login = match self.browser_login_of(token).await {
            Ok(Some(login)) => login,
            Ok(None) => return Logout::Done(back),
            Err(()) => return Logout::Unavailable,
        };
        // A hint ends the session without asking only if it names this person and was
        // issued during this very session: an older ID token, leaked with some logout URL,
        // cannot end a later session silently. A minute of leeway for the clocks of
        // several instances.
        let hint_is_this_session = hint.as_ref().is_some_and(|h| {
            let aud = h["aud"].as_str().unwrap_or_default();
            h["sub"].as_str() == Some(self.subject_for(aud, &login.account.id).as_str())
                && h["iat"]
                    .as_i64()
                    .is_some_and(|iat| iat + HINT_CLOCK_LEEWAY >= login.auth_time.unix_timestamp())
        });
        let confirmed =
            confirmed.is_some_and(|csrf| self.csrf_matches(Form::Logout, token, query, csrf));
        if !hint_is_this_session && !confirmed {
            return Logout::Confirm {
                request: query.to_owned(),
                csrf: self.csrf(Form::Logout, token, query),
                redirect_origin: back
                    .as_deref()
                    .and_then(|b| url::Url::parse(b).ok())
                    .map(|u| u.origin().ascii_serialization()),
            };
        }
        if self.end(token, &login.account.id).await.is_err() {
            return Logout::Unavailable;
        }
        Logout::Done(back)
    }

    /// Ends `account_id`'s session `token` and tells the portals it signed in to that
    /// registered a back-channel URI (kyso's own logout, and RP-initiated logout). Only
    /// those: two portals of different sectors that both received logout tokens of the
    /// same instant could tell that their pairwise subs are one person, so a portal the
    /// person is linked to but did not sign in to in this session learns nothing.
    pub async fn end(&self, token: &str, account_id: &str) -> Result<(), Rejection> {
        let portals = self.gateway().end_session(token).await?;
        self.notify_logout(account_id, &portals);
        Ok(())
    }

    /// The page hands its login `token` over as the browser session, replacing the one
    /// the browser's cookie held (`replaced`), if another: how long the new one has left,
    /// `None` when it is no live session. The replaced session ends: the same person's
    /// portals become the new session's (told at its logout), another person's (a shared
    /// computer, the first never logged out) are told now, as at a logout. Without this
    /// the portals the old session signed in to would never be told.
    pub async fn hand_over(
        &self,
        token: &str,
        replaced: Option<&str>,
    ) -> Result<Option<time::Duration>, Rejection> {
        let unavailable = || store_failed(crate::store::StoreError::Unanswered("hand-over".into()));
        let Some((login, left)) = self
            .session_lifetime(token)
            .await
            .map_err(|()| unavailable())?
        else {
            return Ok(None);
        };
        let Some(old) = replaced.filter(|old| *old != token) else {
            return Ok(Some(left));
        };
        match self
            .browser_login_of(old)
            .await
            .map_err(|()| unavailable())?
        {
            Some(before) if before.account.id == login.account.id => {
                let carried = self
                    .gateway()
                    .store()
                    .carry_session_portals(&bearer_hash(old), &bearer_hash(token))
                    .await
                    .map_err(store_failed)?;
                // The new session ended meanwhile: the old one ends as at a logout.
                if !carried {
                    self.end(old, &before.account.id).await?;
                    return Ok(None);
                }
            }
            Some(before) => self.end(old, &before.account.id).await?,
            None => {}
        }
        Ok(Some(left))
    }

    /// The portals `account_id` is linked to (consented to), oldest first, with their
    /// names.
    pub async fn linked(&self, account_id: &str) -> Result<Vec<(Consent, String)>, Rejection> {
        let consents = self
            .gateway()
            .store()
            .consents(account_id)
            .await
            .map_err(store_failed)?;
        Ok(consents
            .into_iter()
            .map(|c| {
                let name = self
                    .client_config(&c.client_id)
                    .map_or_else(|| c.client_id.clone(), |p| p.name.clone());
                (c, name)
            })
            .collect())
    }

    /// Withdraws `account_id`'s consent for `client_id` (its tokens are revoked with it)
    /// and tells the portal by back-channel; `NOT_FOUND` when it was not linked.
    pub async fn withdraw(&self, account_id: &str, client_id: &str) -> Result<(), Rejection> {
        let removed = self
            .gateway()
            .store()
            .delete_consent(account_id, client_id)
            .await
            .map_err(store_failed)?;
        if !removed {
            return Err(Rejection::new(
                ErrorCode::NotFound,
                "this portal is not linked to the account",
            ));
        }
        self.notify_logout(account_id, &[client_id.to_owned()]);
        Ok(())
    }

    /// Waits, at shutdown, for the back-channel logout deliveries under way (each gives up
    /// after its own timeout), at most `grace`: a person told they are logged out has
    /// their portals told too, even when the gateway stops a moment later.
    pub async fn finish_deliveries(&self, grace: std::time::Duration) {
        self.deliveries.close();
        let under_way = self.deliveries.len();
        if under_way == 0 {
            return;
        }
        tracing::info!(under_way, "finishing back-channel logout deliveries");
        if tokio::time::timeout(grace, self.deliveries.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                left = self.deliveries.len(),
                "back-channel logout deliveries cut off at shutdown"
            );
        }
    }

    /// Posts a logout token to every portal of `portals` that registered a back-channel
    /// URI, in the background (a slow portal delays no one); failures are logged.
    fn notify_logout(&self, account_id: &str, portals: &[String]) {
        for portal in portals {
            let Some(uri) = self
                .client_config(portal)
                .and_then(|c| c.backchannel_logout_uri.clone())
            else {
                continue;
            };
            let token = match self.logout_token(portal, account_id) {
                Ok(t) => t,
                Err(()) => continue,
            };
            let client = portal.clone();
            self.deliveries.spawn(async move {
                // No redirects: a 307 must not carry the token somewhere else.
                let sent = reqwest::Client::builder()
                    .timeout(BACKCHANNEL_TIMEOUT)
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(|e| e.to_string());
                let answer = match sent {
                    Ok(http) => http
                        .post(&uri)
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(format!("logout_token={token}"))
                        .send()
                        .await
                        .map(|r| r.status())
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e),
                };
                match answer {
                    Ok(status) if status.is_success() => {
                        tracing::info!(client = %client, "back-channel logout delivered");
                    }
                    Ok(status) => {
                        tracing::warn!(client = %client, %status, "back-channel logout refused");
                    }
                    Err(e) => {
                        tracing::warn!(client = %client, error = %e, "back-channel logout failed");
                    }
                }
            });
        }
    }

    /// A logout token for `client_id` about `account_id` (Back-Channel Logout 1.0 §2.4):
    /// its `sub`, never a nonce, the logout event.
    fn logout_token(&self, client_id: &str, account_id: &str) -> Result<String, ()> {
        let now = self.gateway().clock().now().unix_timestamp();
        let jti = self
            .gateway()
            .random(16, &URL_SAFE_NO_PAD)
            .map_err(|_| ())?;
        let claims = json!({
            "iss": self.issuer(),
            "aud": client_id,
            "iat": now,
            "exp": now + 120,
            "jti": jti,
            "sub": self.subject_for(client_id, account_id),
            "events": { BACKCHANNEL_EVENT: {} },
        });
        self.sign_typed(&claims, "logout+jwt").map_err(|_| ())
    }
}
