//! Request signatures as Standard Webhooks defines them (docs/delivery.md, "Signatures"): an
//! HMAC-SHA256 of `id.timestamp.body` with each signing key, sent as `v1,<base64>` entries
//! separated by spaces, so a receiver that knows either of two keys accepts the request while the
//! keys rotate. Pure: the timestamp and the keys are passed in. Verification is here too, shared
//! by the example endpoint and the tests.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::hmac;

/// The header names of the scheme.
pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// The prefix of a key's text form.
pub const KEY_PREFIX: &str = "whsec_";
/// Bounds of a key's decoded length in bytes (Standard Webhooks: 24 to 64).
pub const KEY_BYTES: std::ops::RangeInclusive<usize> = 24..=64;
/// How far a receiver accepts a timestamp from its own clock, in seconds (the scheme's usual
/// five minutes).
pub const TOLERANCE_SECONDS: i64 = 5 * 60;

/// A signing key. Debug prints `<redacted>`; the bytes never leave this module except into the
/// HMAC.
#[derive(Clone)]
pub struct SigningKey(hmac::Key);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Why a key's text is not a key. The messages never quote the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("does not start with whsec_")]
    Prefix,
    #[error("is not base64 after whsec_")]
    Base64,
    #[error("is not 24 to 64 bytes long once decoded")]
    Length,
}

impl SigningKey {
    /// Parses `whsec_<base64>`. Surrounding whitespace (a trailing newline) is ignored.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let b64 = text
            .trim()
            .strip_prefix(KEY_PREFIX)
            .ok_or(KeyError::Prefix)?;
        let bytes = STANDARD.decode(b64).map_err(|_| KeyError::Base64)?;
        if !KEY_BYTES.contains(&bytes.len()) {
            return Err(KeyError::Length);
        }
        Ok(Self(hmac::Key::new(hmac::HMAC_SHA256, &bytes)))
    }

    fn content(id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
        let mut content = format!("{id}.{timestamp}.").into_bytes();
        content.extend_from_slice(body);
        content
    }

    /// `v1,<base64 HMAC-SHA256 of id.timestamp.body>`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let tag = hmac::sign(&self.0, &Self::content(id, timestamp, body));
        format!("v1,{}", STANDARD.encode(tag.as_ref()))
    }

    /// Whether `signature` (the base64 part) is this key's signature, in constant time.
    fn verifies(&self, id: &str, timestamp: i64, body: &[u8], signature: &str) -> bool {
        STANDARD.decode(signature).is_ok_and(|tag| {
            hmac::verify(&self.0, &Self::content(id, timestamp, body), &tag).is_ok()
        })
    }
}

/// The `webhook-id` of attempt `attempt` of the run whose idempotency key is `key`: unique per
/// attempt (`_` cannot occur in a run name, so the two parts never blur).
pub fn webhook_id(key: &str, attempt: i32) -> String {
    format!("{key}_{attempt}")
}

/// The `webhook-signature` value: one `v1,` entry per key, in the order given, space-separated.
pub fn signature_header(keys: &[SigningKey], id: &str, timestamp: i64, body: &[u8]) -> String {
    keys.iter()
        .map(|k| k.sign(id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Why a receiver rejects a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("header {0} is missing")]
    Missing(&'static str),
    #[error("webhook-timestamp is not a whole number of seconds")]
    BadTimestamp,
    #[error("webhook-timestamp is more than {TOLERANCE_SECONDS} s away from now")]
    Stale,
    #[error("no signature in webhook-signature matches")]
    BadSignature,
}

/// Checks a request as a receiver does: all three headers present, the timestamp within
/// `TOLERANCE_SECONDS` of `now` (Unix seconds) either way, and at least one `v1` entry signed by
/// one of `keys`.
pub fn verify(
    keys: &[SigningKey],
    id: Option<&str>,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), Rejection> {
    let id = id.ok_or(Rejection::Missing(ID_HEADER))?;
    let timestamp = timestamp.ok_or(Rejection::Missing(TIMESTAMP_HEADER))?;
    let signature = signature.ok_or(Rejection::Missing(SIGNATURE_HEADER))?;
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| Rejection::BadTimestamp)?;
    if (now - ts).abs() > TOLERANCE_SECONDS {
        return Err(Rejection::Stale);
    }
    let matches = signature
        .split(' ')
        .filter_map(|entry| entry.split_once(','))
        .filter(|(version, _)| *version == "v1")
        .any(|(_, sig)| keys.iter().any(|k| k.verifies(id, ts, body, sig)));
    matches.then_some(()).ok_or(Rejection::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The Standard Webhooks reference libraries' published test vector.
    const VECTOR_KEY: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const VECTOR_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const VECTOR_TS: i64 = 1649367553;
    const VECTOR_BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const VECTOR_SIG: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    fn key(text: &str) -> SigningKey {
        SigningKey::parse(text).expect("key")
    }

    #[test]
    fn signs_the_standard_webhooks_test_vector() {
        assert_eq!(
            key(VECTOR_KEY).sign(VECTOR_ID, VECTOR_TS, VECTOR_BODY),
            VECTOR_SIG
        );
    }

    #[test]
    fn verifies_the_vector_and_rejects_tampering_staleness_and_missing_headers() {
        let keys = [key(VECTOR_KEY)];
        let check = |id, ts: &str, sig, body: &[u8], now| {
            verify(&keys, Some(id), Some(ts), Some(sig), body, now)
        };
        let ts = VECTOR_TS.to_string();
        assert_eq!(
            check(VECTOR_ID, &ts, VECTOR_SIG, VECTOR_BODY, VECTOR_TS),
            Ok(())
        );
        // Within the tolerance either way, and just outside it.
        let edge = VECTOR_TS + TOLERANCE_SECONDS;
        assert_eq!(check(VECTOR_ID, &ts, VECTOR_SIG, VECTOR_BODY, edge), Ok(()));
        for now in [edge + 1, VECTOR_TS - TOLERANCE_SECONDS - 1] {
            let got = check(VECTOR_ID, &ts, VECTOR_SIG, VECTOR_BODY, now);
            assert_eq!(got, Err(Rejection::Stale));
        }
        let tampered = br#"{"email":"test@example.com","username":"test_usr"}"#;
        let bad = Err(Rejection::BadSignature);
        assert_eq!(check(VECTOR_ID, &ts, VECTOR_SIG, tampered, VECTOR_TS), bad);
        assert_eq!(
            check("msg_other", &ts, VECTOR_SIG, VECTOR_BODY, VECTOR_TS),
            bad
        );
        let later = (VECTOR_TS + 1).to_string();
        assert_eq!(
            check(VECTOR_ID, &later, VECTOR_SIG, VECTOR_BODY, VECTOR_TS),
            bad
        );
        let v2 = VECTOR_SIG.replacen("v1,", "v2,", 1);
        assert_eq!(check(VECTOR_ID, &ts, &v2, VECTOR_BODY, VECTOR_TS), bad);
        assert_eq!(
            check(VECTOR_ID, "soon", VECTOR_SIG, VECTOR_BODY, VECTOR_TS),
            Err(Rejection::BadTimestamp)
        );
        assert_eq!(
            verify(
                &keys,
                Some(VECTOR_ID),
                None,
                Some(VECTOR_SIG),
                VECTOR_BODY,
                0
            ),
            Err(Rejection::Missing(TIMESTAMP_HEADER))
        );
    }

    #[test]
    fn two_keys_give_two_signatures_and_either_key_verifies() {
        let old = key(VECTOR_KEY);
        let new = key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwAAAAAAAAAAAA");
        let header = signature_header(&[new.clone(), old.clone()], "id_1", 7, b"{}");
        let entries: Vec<&str> = header.split(' ').collect();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0], new.sign("id_1", 7, b"{}"));
        assert_eq!(entries[1], old.sign("id_1", 7, b"{}"));
        for receiver in [old, new] {
            let got = verify(
                &[receiver],
                Some("id_1"),
                Some("7"),
                Some(&header),
                b"{}",
                7,
            );
            assert_eq!(got, Ok(()));
        }
        let stranger = key("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        let got = verify(
            &[stranger],
            Some("id_1"),
            Some("7"),
            Some(&header),
            b"{}",
            7,
        );
        assert_eq!(got, Err(Rejection::BadSignature));
    }

    #[test]
    fn keys_must_be_whsec_base64_of_24_to_64_bytes_and_never_print() {
        assert_eq!(
            SigningKey::parse("C2FVsBQIhrscChlQIMV+b5sSYspob7oD").err(),
            Some(KeyError::Prefix)
        );
        assert_eq!(SigningKey::parse("whsec_!!!").err(), Some(KeyError::Base64));
        assert_eq!(
            SigningKey::parse("whsec_c2hvcnQ=").err(),
            Some(KeyError::Length)
        );
        let long = format!("whsec_{}", STANDARD.encode([7u8; 65]));
        assert_eq!(SigningKey::parse(&long).err(), Some(KeyError::Length));
        let with_newline = format!("{VECTOR_KEY}\n");
        assert_eq!(
            key(&with_newline).sign(VECTOR_ID, VECTOR_TS, VECTOR_BODY),
            VECTOR_SIG
        );
        assert_eq!(format!("{:?}", key(VECTOR_KEY)), "<redacted>");
    }

    #[test]
    fn the_webhook_id_is_the_idempotency_key_and_the_attempt() {
        assert_eq!(webhook_id("daily-1800000000", 2), "daily-1800000000_2");
    }
}
