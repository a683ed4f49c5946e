//! The server key: 32 random bytes kept in a file outside the database (`secret_key_file`).
//!
//! Short secrets (the 6-digit reset codes, anything an attacker could enumerate) are stored as
//! HMAC-SHA256 under a key derived from it, so a copy of the database alone does not reverse
//! them. Audit checkpoints are signed with an ed25519 key derived from it, so a database writer
//! cannot forge one. Each use derives its own subkey (HMAC of the master key and a label), so
//! one use never leaks into another.
//!
//! With SQLite the file is created on first run next to the database (mode 0600). With
//! PostgreSQL every node must hold the same key, so the file is required and never created by
//! `serve`: `keywarden secret-key generate FILE` writes one.

use std::path::Path;

use anyhow::{bail, Context};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What the file holds: a header line and the key in hex.
const HEADER: &str = "keywarden-secret-key-v1";

/// What a derived HMAC key is for; each purpose has its own subkey.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The 6-digit code of the reset-password task.
    ResetCode,
    /// The seed of the ed25519 key that signs audit checkpoints.
    CheckpointSigning,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Self::ResetCode => b"keywarden/reset-code/v1",
            Self::CheckpointSigning => b"keywarden/audit-checkpoint-signing/v1",
        }
    }
}

#[derive(Clone)]
pub struct ServerKey {
    master: [u8; 32],
}

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerKey(REDACTED)")
    }
}

impl ServerKey {
    /// A key that lives only in this process (an in-memory SQLite database, unit tests).
    pub fn ephemeral() -> Self {
        use rand::RngCore;
        let mut master = [0u8; 32];
        rand::rng().fill_bytes(&mut master);
        Self { master }
    }

    /// Reads the key file; when it is missing and `create` is set, writes a new one (mode 0600)
    /// first. A file readable by group or others is refused.
    pub fn open(path: &Path, create: bool) -> anyhow::Result<Self> {
        if !path.exists() {
            if !create {
                bail!(
                    "secret_key_file {} does not exist: create it once with `keywarden secret-key generate {}` and give every node the same file",
                    path.display(),
                    path.display()
                );
            }
            Self::generate(path)?;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)
                .with_context(|| format!("secret_key_file {}", path.display()))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                bail!(
                    "secret_key_file {} is readable by other users (mode {:o}): run chmod 600 on it",
                    path.display(),
                    mode & 0o777
                );
            }
        }
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read secret_key_file {}", path.display()))?;
        Self::parse(&text)
            .with_context(|| format!("secret_key_file {} is not a Keywarden key", path.display()))
    }

    /// Writes a new random key to `path` (mode 0600); refuses to overwrite an existing file.
    pub fn generate(path: &Path) -> anyhow::Result<()> {
        use std::io::Write;
        let key = Self::ephemeral();
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let mut file = options
            .open(path)
            .with_context(|| format!("cannot create secret_key_file {}", path.display()))?;
        writeln!(file, "{HEADER}\n{}", hex::encode(key.master))
            .and_then(|()| file.sync_all())
            .with_context(|| format!("cannot write secret_key_file {}", path.display()))?;
        Ok(())
    }

    fn parse(text: &str) -> anyhow::Result<Self> {
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        if lines.next() != Some(HEADER) {
            bail!("the first line must be {HEADER}");
        }
        let bytes = hex::decode(lines.next().unwrap_or_default())
            .ok()
            .filter(|b| b.len() == 32)
            .context("the second line must be 64 hexadecimal digits")?;
        let mut master = [0u8; 32];
        master.copy_from_slice(&bytes);
        Ok(Self { master })
    }

    fn subkey(&self, purpose: Purpose) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.master).expect("any key length");
        mac.update(purpose.label());
        mac.finalize().into_bytes().into()
    }

    /// HMAC-SHA256 of `data` under the subkey for `purpose`, as lowercase hex: what the
    /// database keeps for a short secret.
    pub fn mac(&self, purpose: Purpose, data: impl AsRef<[u8]>) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.subkey(purpose)).expect("any key length");
        mac.update(data.as_ref());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Whether `stored` is the MAC of `data` (constant time).
    pub fn mac_matches(&self, purpose: Purpose, data: impl AsRef<[u8]>, stored: &str) -> bool {
        use subtle::ConstantTimeEq;
        let expected = self.mac(purpose, data);
        expected.as_bytes().ct_eq(stored.as_bytes()).into()
    }

    /// The ed25519 key that signs audit checkpoints.
    pub fn checkpoint_signing_key(&self) -> ed25519_dalek::SigningKey {
        ed25519_dalek::SigningKey::from_bytes(&self.subkey(Purpose::CheckpointSigning))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_file_is_created_private_and_read_back() {
        let dir =
            std::env::temp_dir().join(format!("kw-key-{}", crate::runtime::token::random_hex(6)));
        let path = dir.join("db.key");
        assert!(
            ServerKey::open(&path, false).is_err(),
            "missing and not created"
        );
        let a = ServerKey::open(&path, true).unwrap();
        let b = ServerKey::open(&path, false).unwrap();
        assert_eq!(
            a.mac(Purpose::ResetCode, "123456"),
            b.mac(Purpose::ResetCode, "123456")
        );
        assert!(b.mac_matches(
            Purpose::ResetCode,
            "123456",
            &a.mac(Purpose::ResetCode, "123456")
        ));
        assert!(!b.mac_matches(
            Purpose::ResetCode,
            "123457",
            &a.mac(Purpose::ResetCode, "123456")
        ));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = ServerKey::open(&path, false).unwrap_err().to_string();
            assert!(e.contains("chmod 600"), "{e}");
        }
        assert!(ServerKey::generate(&path).is_err(), "never overwrites");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn purposes_have_separate_keys_and_a_different_key_gives_different_macs() {
        let k = ServerKey::ephemeral();
        assert_ne!(
            k.mac(Purpose::ResetCode, "x"),
            k.mac(Purpose::CheckpointSigning, "x")
        );
        assert_ne!(
            k.mac(Purpose::ResetCode, "x"),
            ServerKey::ephemeral().mac(Purpose::ResetCode, "x")
        );
        assert_eq!(format!("{k:?}"), "ServerKey(REDACTED)");
    }
}
