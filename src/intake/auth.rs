//! Webhook authentication on the raw request, before any parsing.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::config::{IntakeSettings, Secrets};
use crate::domain::AlertSource;

/// Why a request was refused. Messages name what was wrong, never what was expected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("missing {0}")]
    Missing(&'static str),
    #[error("{0} does not match")]
    Mismatch(&'static str),
    #[error("{0} is malformed")]
    Malformed(&'static str),
}

pub const PAGERDUTY_SIGNATURE_HEADER: &str = "x-pagerduty-signature";

/// Checks the request against the secret configured for `source`. With no secret configured
/// (only possible under `--insecure-no-auth`) every request passes.
pub fn authenticate(
    source: AlertSource,
    headers: &HeaderMap,
    body: &[u8],
    secrets: &Secrets,
    intake: &IntakeSettings,
) -> Result<(), AuthError> {
    if !secrets.has_secret_for(source) {
        return Ok(());
    }
    match source {
        AlertSource::Pagerduty => {
            verify_pagerduty_signature(headers, body, &secrets.pagerduty_webhook_secrets)
        }
        AlertSource::Datadog => verify_datadog(headers, secrets, intake),
        AlertSource::Alertmanager => verify_bearer(headers, secrets),
    }
}

/// `X-PagerDuty-Signature: v1=<hex>[,v1=<hex>…]`, HMAC-SHA256 of the raw body. Any listed
/// signature may match any configured secret, so both sides can rotate secrets.
pub fn verify_pagerduty_signature(
    headers: &HeaderMap,
    body: &[u8],
    secrets: &[SecretString],
) -> Result<(), AuthError> {
    const WHAT: &str = "X-PagerDuty-Signature";
    let header = headers
        .get(PAGERDUTY_SIGNATURE_HEADER)
        .ok_or(AuthError::Missing(WHAT))?
        .to_str()
        .map_err(|_| AuthError::Malformed(WHAT))?;
    let signatures: Vec<Vec<u8>> = header
        .split(',')
        .filter_map(|part| part.trim().strip_prefix("v1="))
        .filter_map(|hex_sig| hex::decode(hex_sig.trim()).ok())
        .collect();
    if signatures.is_empty() {
        return Err(AuthError::Malformed(WHAT));
    }
    let mut matched = false;
    for secret in secrets {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
            .map_err(|_| AuthError::Mismatch(WHAT))?;
        mac.update(body);
        let expected = mac.finalize().into_bytes();
        for signature in &signatures {
            // Compare every pair so timing does not reveal which one matched.
            matched |= bool::from(expected.as_slice().ct_eq(signature.as_slice()));
        }
    }
    if matched {
        Ok(())
    } else {
        Err(AuthError::Mismatch(WHAT))
    }
}

/// Computes the header value PagerDuty would send for `body` signed with `secret`.
pub fn pagerduty_signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Slack request signing: `X-Slack-Signature: v0=<hex>` is HMAC-SHA256 of
/// `v0:<X-Slack-Request-Timestamp>:<raw body>` with the signing secret; requests older or newer
/// than five minutes are refused, so a captured request cannot be replayed.
pub fn verify_slack_signature(
    headers: &HeaderMap,
    body: &[u8],
    secret: &SecretString,
    now_secs: i64,
) -> Result<(), AuthError> {
    const SIGNATURE: &str = "X-Slack-Signature";
    const TIMESTAMP: &str = "X-Slack-Request-Timestamp";
    let timestamp: i64 = headers
        .get("x-slack-request-timestamp")
        .ok_or(AuthError::Missing(TIMESTAMP))?
        .to_str()
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .ok_or(AuthError::Malformed(TIMESTAMP))?;
    if (now_secs - timestamp).abs() > 300 {
        return Err(AuthError::Mismatch(TIMESTAMP));
    }
    let presented = headers
        .get("x-slack-signature")
        .ok_or(AuthError::Missing(SIGNATURE))?
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("v0="))
        .and_then(|hex_sig| hex::decode(hex_sig).ok())
        .ok_or(AuthError::Malformed(SIGNATURE))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
        .map_err(|_| AuthError::Mismatch(SIGNATURE))?;
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    let expected = mac.finalize().into_bytes();
    if constant_time_eq(expected.as_slice(), &presented) {
        Ok(())
    } else {
        Err(AuthError::Mismatch(SIGNATURE))
    }
}

/// The `X-Slack-Signature` value Slack would send.
pub fn slack_signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// Datadog: the shared token in the configured header, or HTTP basic auth whose password is
/// the token.
fn verify_datadog(
    headers: &HeaderMap,
    secrets: &Secrets,
    intake: &IntakeSettings,
) -> Result<(), AuthError> {
    let token = secrets
        .webhook_token
        .as_ref()
        .ok_or(AuthError::Missing("token"))?;
    if let Some(value) = headers.get(intake.datadog_token_header.as_str()) {
        return if constant_time_eq(value.as_bytes(), token.expose_secret().as_bytes()) {
            Ok(())
        } else {
            Err(AuthError::Mismatch("token header"))
        };
    }
    let authorization = headers
        .get(AUTHORIZATION)
        .ok_or(AuthError::Missing("token header or basic auth"))?;
    let encoded = authorization
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Basic "))
        .ok_or(AuthError::Malformed("Authorization header"))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| AuthError::Malformed("basic auth"))?;
    let (user, password) = std::str::from_utf8(&decoded)
        .ok()
        .and_then(|s| s.split_once(':'))
        .ok_or(AuthError::Malformed("basic auth"))?;
    let user_ok = constant_time_eq(user.as_bytes(), intake.datadog_basic_auth_user.as_bytes());
    let password_ok = constant_time_eq(password.as_bytes(), token.expose_secret().as_bytes());
    if user_ok & password_ok {
        Ok(())
    } else {
        Err(AuthError::Mismatch("basic auth"))
    }
}

/// `Authorization: Bearer <token>`, as Alertmanager's `http_config.authorization` sends it.
fn verify_bearer(headers: &HeaderMap, secrets: &Secrets) -> Result<(), AuthError> {
    let token = secrets
        .webhook_token
        .as_ref()
        .ok_or(AuthError::Missing("token"))?;
    check_bearer(headers, token)
}

/// Shared by the webhook and API routes.
pub fn check_bearer(headers: &HeaderMap, token: &SecretString) -> Result<(), AuthError> {
    let value = headers
        .get(AUTHORIZATION)
        .ok_or(AuthError::Missing("bearer token"))?
        .to_str()
        .map_err(|_| AuthError::Malformed("Authorization header"))?;
    let presented = value
        .strip_prefix("Bearer ")
        .ok_or(AuthError::Malformed("Authorization header"))?;
    if constant_time_eq(
        presented.trim().as_bytes(),
        token.expose_secret().as_bytes(),
    ) {
        Ok(())
    } else {
        Err(AuthError::Mismatch("bearer token"))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    // Length is not secret-dependent enough to matter; content comparison is constant-time.
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(name: &'static str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn any_of_several_pagerduty_signatures_may_match() {
        let body = br#"{"event":{}}"#;
        let good = pagerduty_signature("new", body);
        let stale = pagerduty_signature("old", body);
        let secrets = [SecretString::from("new")];
        let h = headers(PAGERDUTY_SIGNATURE_HEADER, &format!("{stale},{good}"));
        assert_eq!(verify_pagerduty_signature(&h, body, &secrets), Ok(()));
        let h = headers(PAGERDUTY_SIGNATURE_HEADER, &stale);
        assert!(matches!(
            verify_pagerduty_signature(&h, body, &secrets),
            Err(AuthError::Mismatch(_))
        ));
    }

    #[test]
    fn a_signature_over_other_bytes_is_refused() {
        let secrets = [SecretString::from("s")];
        let h = headers(PAGERDUTY_SIGNATURE_HEADER, &pagerduty_signature("s", b"{}"));
        assert!(verify_pagerduty_signature(&h, b"{ }", &secrets).is_err());
        let h = headers(PAGERDUTY_SIGNATURE_HEADER, "v0=zz");
        assert_eq!(
            verify_pagerduty_signature(&h, b"{}", &secrets),
            Err(AuthError::Malformed("X-PagerDuty-Signature"))
        );
    }

    #[test]
    fn datadog_accepts_the_header_or_basic_auth() {
        let secrets = Secrets {
            webhook_token: Some(SecretString::from("tok")),
            ..Secrets::default()
        };
        let intake = IntakeSettings::default();
        assert_eq!(
            verify_datadog(&headers("x-triaged-token", "tok"), &secrets, &intake),
            Ok(())
        );
        assert!(verify_datadog(&headers("x-triaged-token", "tok2"), &secrets, &intake).is_err());
        let basic = base64::engine::general_purpose::STANDARD.encode("triaged:tok");
        let h = headers("authorization", &format!("Basic {basic}"));
        assert_eq!(verify_datadog(&h, &secrets, &intake), Ok(()));
        let basic = base64::engine::general_purpose::STANDARD.encode("someone:tok");
        let h = headers("authorization", &format!("Basic {basic}"));
        assert!(verify_datadog(&h, &secrets, &intake).is_err());
        assert_eq!(
            verify_datadog(&HeaderMap::new(), &secrets, &intake),
            Err(AuthError::Missing("token header or basic auth"))
        );
    }
}
