//! Slack interaction payloads (`POST /slack/interactions`): the signed form body in, the one
//! thing it asks for out. Pure, so it can be fuzzed; the handler verifies the signature first.

use std::collections::HashMap;

use serde_json::Value;

use super::IntakeError;

/// A feedback verdict given with a brief's buttons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Correct,
    Partly,
    Wrong,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Correct => "correct",
            Verdict::Partly => "partly",
            Verdict::Wrong => "wrong",
        }
    }
}

/// What an interaction asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interaction {
    /// A feedback button; `trigger_id` opens the "what was the real cause?" modal.
    Feedback {
        incident_id: String,
        user: String,
        verdict: Verdict,
        trigger_id: Option<String>,
    },
    /// The modal submitted with the real cause.
    RealCause {
        incident_id: String,
        user: String,
        note: Option<String>,
    },
    /// Anything else Slack sends (other buttons, other views): acknowledged, nothing done.
    Ignored,
}

/// Parses a form body as Slack sends it: `payload=<url-encoded JSON object>`.
pub fn parse_interaction(body: &[u8]) -> Result<Interaction, IntakeError> {
    let form = form_fields(body)?;
    let payload: Value = form
        .get("payload")
        .ok_or_else(|| IntakeError::Malformed("form has no `payload`".into()))
        .and_then(|p| {
            serde_json::from_str(p)
                .map_err(|e| IntakeError::Malformed(format!("payload is not JSON: {e}")))
        })?;
    if !payload.is_object() {
        return Err(IntakeError::Malformed(
            "payload must be a JSON object".into(),
        ));
    }
    let user = payload["user"]["id"]
        .as_str()
        .unwrap_or("unknown")
        .to_string();
    Ok(match payload["type"].as_str() {
        Some("block_actions") => {
            let action = &payload["actions"][0];
            let verdict = match action["action_id"].as_str() {
                Some("feedback_correct") => Verdict::Correct,
                Some("feedback_partly") => Verdict::Partly,
                Some("feedback_wrong") => Verdict::Wrong,
                _ => return Ok(Interaction::Ignored),
            };
            Interaction::Feedback {
                incident_id: action["value"].as_str().unwrap_or_default().to_string(),
                user,
                verdict,
                trigger_id: payload["trigger_id"].as_str().map(str::to_string),
            }
        }
        Some("view_submission") if payload["view"]["callback_id"] == "feedback_wrong" => {
            Interaction::RealCause {
                incident_id: payload["view"]["private_metadata"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                user,
                note: payload["view"]["state"]["values"]["real_cause"]["value"]["value"]
                    .as_str()
                    .map(str::to_string),
            }
        }
        _ => Interaction::Ignored,
    })
}

/// The fields of a form body. Bytes that are not UTF-8, before or after percent-decoding,
/// are refused rather than replaced: a signed body that does not decode is not Slack's.
fn form_fields(body: &[u8]) -> Result<HashMap<String, String>, IntakeError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| IntakeError::Malformed("the form body is not UTF-8".into()))?;
    let decode = |raw: &str| {
        percent_encoding::percent_decode_str(&raw.replace('+', " "))
            .decode_utf8()
            .map(|text| text.into_owned())
            .map_err(|_| IntakeError::Malformed("a form field is not UTF-8 once decoded".into()))
    };
    let mut fields = HashMap::new();
    for pair in text.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        fields.insert(decode(key)?, decode(value)?);
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(payload: &str) -> Vec<u8> {
        format!(
            "payload={}",
            percent_encoding::utf8_percent_encode(payload, percent_encoding::NON_ALPHANUMERIC)
        )
        .into_bytes()
    }

    #[test]
    fn buttons_and_the_modal_are_read() {
        let button = r#"{"type":"block_actions","user":{"id":"U1"},"trigger_id":"t1",
            "actions":[{"action_id":"feedback_wrong","value":"inc-1"}]}"#;
        assert_eq!(
            parse_interaction(&form(button)).unwrap(),
            Interaction::Feedback {
                incident_id: "inc-1".into(),
                user: "U1".into(),
                verdict: Verdict::Wrong,
                trigger_id: Some("t1".into())
            }
        );
        let modal = r#"{"type":"view_submission","user":{"id":"U2"},"view":{"callback_id":"feedback_wrong",
            "private_metadata":"inc-2","state":{"values":{"real_cause":{"value":{"value":"a cert"}}}}}}"#;
        assert_eq!(
            parse_interaction(&form(modal)).unwrap(),
            Interaction::RealCause {
                incident_id: "inc-2".into(),
                user: "U2".into(),
                note: Some("a cert".into())
            }
        );
        assert_eq!(
            parse_interaction(&form(r#"{"type":"shortcut"}"#)).unwrap(),
            Interaction::Ignored
        );
    }

    #[test]
    fn what_is_not_a_slack_payload_is_refused() {
        for body in [&b"payload=%FF"[..], b"\xff", b"nothing=1", b"payload=[]"] {
            assert!(parse_interaction(body).is_err(), "{body:?}");
        }
    }
}
