//! `Stripe-Signature` verification.

use stripe_webhook::{Webhook, WebhookError};

use crate::config::Secret;

/// Why a webhook's signature was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureError {
    /// No `Stripe-Signature` header.
    Missing,
    /// The header is malformed, or no `v1` signature matches any configured secret.
    Invalid,
    /// A signature matches, but its timestamp is more than 300 s away from now (a replay).
    Stale,
}

impl SignatureError {
    /// The error code answered to the sender.
    pub fn code(self) -> &'static str {
        match self {
            SignatureError::Missing => "missing_signature",
            SignatureError::Invalid => "invalid_signature",
            SignatureError::Stale => "stale_timestamp",
        }
    }

    /// One line for the sender and the log.
    pub fn message(self) -> &'static str {
        match self {
            SignatureError::Missing => "the Stripe-Signature header is missing",
            SignatureError::Invalid => {
                "the Stripe-Signature header does not match the body with any configured secret"
            }
            SignatureError::Stale => {
                "the Stripe-Signature timestamp is more than 300 seconds from now"
            }
        }
    }
}

/// Checks `header` against the raw `payload` with every secret in turn (several during a rotation).
///
/// async-stripe compares HMAC-SHA256 in constant time, accepts any of several `v1` signatures and
/// enforces a 300-second tolerance; it then parses the event into its typed models. Its parse runs
/// only after the signature matched, so a parse failure still means an authentic body: the caller
/// reads the fields it needs itself.
pub fn verify(
    payload: &str,
    header: Option<&str>,
    secrets: &[Secret],
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    if absurd_timestamp(header) {
        return Err(SignatureError::Invalid);
    }
    let mut stale = false;
    for secret in secrets {
        match Webhook::construct_event(payload, header, secret.expose()) {
            Ok(_) | Err(WebhookError::BadParse(_)) => return Ok(()),
            Err(WebhookError::BadTimestamp(_)) => stale = true,
            Err(WebhookError::BadSignature | WebhookError::BadKey | WebhookError::BadHeader(_)) => {
            }
        }
    }
    Err(if stale {
        SignatureError::Stale
    } else {
        SignatureError::Invalid
    })
}

/// Whether `header` has a `t=` that no clock writes: so long before 1970 that async-stripe's unchecked
/// `now - t` overflows, which panics where overflow checks are on (debug and test builds) and, where
/// they are off, can wrap to a difference that passes the 300-second tolerance. Found by fuzzing
/// (`fuzz/fuzz_targets/webhook_event.rs`); only a sender with the secret gets that far.
fn absurd_timestamp(header: &str) -> bool {
    header
        .split(',')
        .filter_map(|pair| pair.strip_prefix("t="))
        .filter_map(|t| t.parse::<i64>().ok())
        .any(|t| t < i64::MIN / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(list: &[&str]) -> Vec<Secret> {
        list.iter().map(|s| Secret::new((*s).to_owned())).collect()
    }

    const PAYLOAD: &str = r#"{"id":"evt_1","object":"event","api_version":null,"created":1,"livemode":false,"pending_webhooks":0,"request":{"id":null,"idempotency_key":null},"type":"tessera.unknown","data":{"object":{}}}"#;

    fn now() -> i64 {
        crate::clock::now().0 as i64
    }

    #[test]
    fn accepts_any_configured_secret() {
        let header = Webhook::generate_test_header(PAYLOAD, "whsec_new", Some(now()));
        assert_eq!(
            verify(
                PAYLOAD,
                Some(&header),
                &secrets(&["whsec_old", "whsec_new"])
            ),
            Ok(())
        );
        assert_eq!(
            verify(PAYLOAD, Some(&header), &secrets(&["whsec_old"])),
            Err(SignatureError::Invalid)
        );
    }

    #[test]
    fn refuses_stale_missing_and_malformed() {
        let old = Webhook::generate_test_header(PAYLOAD, "whsec_a", Some(now() - 301));
        assert_eq!(
            verify(PAYLOAD, Some(&old), &secrets(&["whsec_a"])),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(PAYLOAD, None, &secrets(&["whsec_a"])),
            Err(SignatureError::Missing)
        );
        for header in ["", "garbage", "t=abc,v1=00", "v1=00"] {
            assert_eq!(
                verify(PAYLOAD, Some(header), &secrets(&["whsec_a"])),
                Err(SignatureError::Invalid),
                "{header}"
            );
        }
    }

    #[test]
    fn a_timestamp_no_clock_writes_is_refused_without_overflow() {
        for t in [i64::MIN, now() + i64::MIN, i64::MIN / 2 - 1] {
            let header = Webhook::generate_test_header(PAYLOAD, "whsec_a", Some(t));
            assert_eq!(
                verify(PAYLOAD, Some(&header), &secrets(&["whsec_a"])),
                Err(SignatureError::Invalid),
                "{t}"
            );
        }
        let future = Webhook::generate_test_header(PAYLOAD, "whsec_a", Some(i64::MAX));
        assert_eq!(
            verify(PAYLOAD, Some(&future), &secrets(&["whsec_a"])),
            Err(SignatureError::Stale)
        );
    }

    #[test]
    fn a_body_changed_after_signing_is_refused() {
        let header = Webhook::generate_test_header(PAYLOAD, "whsec_a", Some(now()));
        let tampered = PAYLOAD.replace("evt_1", "evt_2");
        assert_eq!(
            verify(&tampered, Some(&header), &secrets(&["whsec_a"])),
            Err(SignatureError::Invalid)
        );
    }
}
