//! The checkpoint file: a few `key: value` lines a human can read and a script can check.
//!
//! ```text
//! keywarden-audit-checkpoint-v1
//! instance: https://id.example.org/
//! seq: 120
//! hash: 5f1c…(64 hex digits: the hash of entry 120, the head of the chain)
//! at: 1795339805000
//! time: 2026-11-22 09:30:05 UTC
//! cause: daily
//! public-key: 3b6a…(64 hex digits: the ed25519 public key)
//! signature: 9e0d…(128 hex digits)
//! ```
//!
//! `signature` is the ed25519 signature of every line before it, each ending with `\n` (the
//! file's own bytes up to the signature line, with CR LF read as LF). Checked elsewhere with
//! OpenSSL 3 (the public key wrapped in its DER prefix):
//!
//! ```text
//! head -n 8 FILE > body; tail -n 1 FILE | cut -c 12- | xxd -r -p > sig
//! (echo 302a300506032b6570032100; grep public-key FILE | cut -c 13-) | tr -d '\n' | xxd -r -p > pub.der
//! openssl pkeyutl -verify -pubin -inkey pub.der -keyform DER -rawin -in body -sigfile sig
//! ```
//!
//! (Take the public key from a trusted copy, not from the file being checked.)

use std::fmt::Write as _;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use crate::domain::time;

pub const HEADER: &str = "keywarden-audit-checkpoint-v1";

/// Why a checkpoint was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The once-a-day checkpoint.
    Daily,
    /// `keywarden audit checkpoint`.
    OnDemand,
    /// After "set all passwords as compromised".
    PasswordsCompromised,
    /// After "sign out everyone".
    SessionsRevoked,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Daily => "daily",
            Cause::OnDemand => "on-demand",
            Cause::PasswordsCompromised => "instance.passwords_compromised",
            Cause::SessionsRevoked => "instance.sessions_revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Cause::Daily,
            Cause::OnDemand,
            Cause::PasswordsCompromised,
            Cause::SessionsRevoked,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }

    /// Words for pages and mail.
    pub fn label(self) -> &'static str {
        match self {
            Cause::Daily => "daily checkpoint",
            Cause::OnDemand => "taken on demand",
            Cause::PasswordsCompromised => "after all passwords were set as compromised",
            Cause::SessionsRevoked => "after everyone was signed out",
        }
    }
}

/// A signed statement: "entry `seq` of this instance's audit trail has hash `hash`".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub instance: String,
    pub seq: i64,
    pub hash: String,
    pub at: i64,
    pub cause: Cause,
    pub public_key: [u8; 32],
    pub signature: [u8; 64],
}

impl Checkpoint {
    /// Signs the head `(seq, hash)` at `at`.
    pub fn sign(
        key: &SigningKey,
        instance: &str,
        seq: i64,
        hash: &str,
        at: i64,
        cause: Cause,
    ) -> Self {
        let mut checkpoint = Self {
            instance: instance.to_owned(),
            seq,
            hash: hash.to_owned(),
            at,
            cause,
            public_key: key.verifying_key().to_bytes(),
            signature: [0; 64],
        };
        checkpoint.signature = key.sign(checkpoint.body().as_bytes()).to_bytes();
        checkpoint
    }

    /// The signed lines.
    fn body(&self) -> String {
        let mut out = String::new();
        let _ = write!(
            out,
            "{HEADER}\ninstance: {}\nseq: {}\nhash: {}\nat: {}\ntime: {}\ncause: {}\npublic-key: {}\n",
            self.instance,
            self.seq,
            self.hash,
            self.at,
            time::utc_seconds(self.at),
            self.cause.as_str(),
            hex::encode(self.public_key),
        );
        out
    }

    /// The whole file.
    pub fn to_text(&self) -> String {
        format!(
            "{}signature: {}\n",
            self.body(),
            hex::encode(self.signature)
        )
    }

    /// Reads a file. The signature is not checked here (see [`Checkpoint::check_signature`]).
    pub fn parse(text: &str) -> Result<Self, String> {
        let lines: Vec<&str> = text
            .lines()
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .filter(|l| !l.trim().is_empty())
            .collect();
        if lines.first() != Some(&HEADER) {
            return Err(format!(
                "not a Keywarden audit checkpoint: the first line must be {HEADER}"
            ));
        }
        const KEYS: [&str; 8] = [
            "instance",
            "seq",
            "hash",
            "at",
            "time",
            "cause",
            "public-key",
            "signature",
        ];
        if lines.len() != KEYS.len() + 1 {
            return Err(format!(
                "not a Keywarden audit checkpoint: expected {} lines, found {}",
                KEYS.len() + 1,
                lines.len()
            ));
        }
        let mut values = Vec::with_capacity(KEYS.len());
        for (n, (line, key)) in lines[1..].iter().zip(KEYS).enumerate() {
            let value = line
                .strip_prefix(key)
                .and_then(|rest| rest.strip_prefix(": "))
                .ok_or_else(|| format!("line {}: expected \"{key}: …\"", n + 2))?;
            values.push(value);
        }
        let bad = |key: &str, what: &str| format!("{key}: {what}");
        let seq = values[1]
            .parse::<i64>()
            .ok()
            .filter(|s| *s > 0)
            .ok_or_else(|| bad("seq", "expected a positive whole number"))?;
        let hash = values[2];
        if hash.len() != 64 || !hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(bad("hash", "expected 64 lowercase hexadecimal digits"));
        }
        let at = values[3]
            .parse::<i64>()
            .map_err(|_| bad("at", "expected Unix milliseconds"))?;
        let cause = Cause::parse(values[5]).ok_or_else(|| bad("cause", "unknown cause"))?;
        let public_key = hex_array::<32>(values[6])
            .ok_or_else(|| bad("public-key", "expected 64 hexadecimal digits"))?;
        let signature = hex_array::<64>(values[7])
            .ok_or_else(|| bad("signature", "expected 128 hexadecimal digits"))?;
        let checkpoint = Self {
            instance: values[0].to_owned(),
            seq,
            hash: hash.to_owned(),
            at,
            cause,
            public_key,
            signature,
        };
        // The signed bytes are rebuilt from the fields: every line but `time` is taken verbatim,
        // and `time` must be the one `at` gives, so no byte outside the signature goes unchecked.
        if values[4] != time::utc_seconds(at) {
            return Err(bad("time", "does not match at"));
        }
        Ok(checkpoint)
    }

    /// Whether `key` signed this checkpoint. The public key written in the file is only a
    /// label: trusting it would let anyone sign with their own key.
    pub fn check_signature(&self, key: &VerifyingKey) -> Result<(), String> {
        if self.public_key != key.to_bytes() {
            return Err(format!(
                "checkpoint refused: it was signed with another key (public key {}), not this server's (public key {})",
                short(&hex::encode(self.public_key)),
                short(&hex::encode(key.to_bytes())),
            ));
        }
        key.verify_strict(
            self.body().as_bytes(),
            &Signature::from_bytes(&self.signature),
        )
        .map_err(|_| {
            "checkpoint refused: bad signature (the file was altered or was not signed by this server)"
                .to_owned()
        })
    }
}

/// The first 16 hex digits, for messages and pages.
pub fn short(hex: &str) -> String {
    hex.chars().take(16).collect()
}

fn hex_array<const N: usize>(s: &str) -> Option<[u8; N]> {
    hex::decode(s).ok()?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn sample() -> Checkpoint {
        Checkpoint::sign(
            &key(7),
            "https://id.example.org/",
            120,
            &"ab".repeat(32),
            1_795_339_805_000,
            Cause::Daily,
        )
    }

    #[test]
    fn a_checkpoint_reads_back_and_its_signature_holds() {
        let c = sample();
        let text = c.to_text();
        assert!(text.contains("seq: 120\n") && text.contains("time: 2026-11-22 09:30:05 UTC\n"));
        let parsed = Checkpoint::parse(&text).unwrap();
        assert_eq!(parsed, c);
        parsed.check_signature(&key(7).verifying_key()).unwrap();
        let crlf = text.replace('\n', "\r\n");
        Checkpoint::parse(&crlf)
            .unwrap()
            .check_signature(&key(7).verifying_key())
            .unwrap();
    }

    #[test]
    fn any_changed_field_breaks_the_signature() {
        let text = sample().to_text();
        for (from, to) in [
            ("seq: 120", "seq: 121"),
            ("cause: daily", "cause: on-demand"),
            (
                "instance: https://id.example.org/",
                "instance: https://x.example.org/",
            ),
            (
                "at: 1795339805000\ntime: 2026-11-22 09:30:05 UTC",
                "at: 1795339806000\ntime: 2026-11-22 09:30:06 UTC",
            ),
        ] {
            let forged = Checkpoint::parse(&text.replace(from, to)).unwrap();
            let e = forged.check_signature(&key(7).verifying_key()).unwrap_err();
            assert!(e.contains("bad signature"), "{from}: {e}");
        }
        let e = sample()
            .check_signature(&key(8).verifying_key())
            .unwrap_err();
        assert!(e.contains("another key"), "{e}");
    }

    #[test]
    fn a_malformed_file_is_named_precisely() {
        let text = sample().to_text();
        assert!(Checkpoint::parse("hello")
            .unwrap_err()
            .contains("first line"));
        assert!(Checkpoint::parse(&text.replace("seq: 120", "seq: -1"))
            .unwrap_err()
            .starts_with("seq:"));
        assert!(Checkpoint::parse(&text.replace("time: 2026", "time: 2025"))
            .unwrap_err()
            .starts_with("time:"));
        assert!(Checkpoint::parse(&text.replace("hash: ", "hash:"))
            .unwrap_err()
            .contains("line 4"));
    }
}
