//! Secrets at rest: the channels' Tokens, EncodingAESKeys and AppSecrets are sealed with
//! AES-256-GCM before they reach the database, so a copy of `kefu.db` (a backup, a support
//! bundle) does not hand out the keys to the WeChat accounts.
//!
//! The key comes from `KEFU_SECRET_KEY` (32 bytes, base64 or hex), or else from
//! `KEFU_DATA_DIR/secret.key`, created on first start with mode 0600. Keep that file with
//! the database's backups and apart from them: without it the sealed secrets cannot be read.
//! A sealed value is a version byte, a random 96-bit nonce and the ciphertext with its tag;
//! the field's name is the associated data, so a token cannot be passed off as a secret.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore as _;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
pub const KEY_FILE: &str = "secret.key";

/// Which secret a sealed value is: bound into it, so values cannot be swapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Token,
    AesKey,
    AppSecret,
}

impl Field {
    fn aad(self) -> &'static [u8] {
        match self {
            Field::Token => b"kefu channel token",
            Field::AesKey => b"kefu channel aes_key",
            Field::AppSecret => b"kefu channel secret",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("KEFU_SECRET_KEY must be 32 bytes written as 44 characters of base64 or 64 hex digits")]
    BadKey,
    #[error("the key file {0} must hold 32 bytes as base64; it cannot be read: {1}")]
    BadKeyFile(PathBuf, String),
    #[error("cannot create the key file {0}: {1}")]
    CannotCreate(PathBuf, std::io::Error),
    #[error(
        "a stored secret cannot be opened with this key: KEFU_SECRET_KEY or secret.key is not the one it was sealed with"
    )]
    WrongKey,
}

/// The key that seals and opens the channels' secrets. Never printed.
#[derive(Clone)]
pub struct SecretKey(Aes256Gcm);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

impl SecretKey {
    /// A key written as base64 (44 characters) or hex (64 digits).
    pub fn parse(text: &str) -> Result<SecretKey, SecretsError> {
        let text = text.trim();
        let bytes = if text.len() == 64 {
            hex::decode(text).map_err(|_| SecretsError::BadKey)?
        } else {
            STANDARD.decode(text).map_err(|_| SecretsError::BadKey)?
        };
        let key: [u8; 32] = bytes.try_into().map_err(|_| SecretsError::BadKey)?;
        Ok(SecretKey::from_bytes(&key))
    }

    fn from_bytes(key: &[u8; 32]) -> SecretKey {
        SecretKey(Aes256Gcm::new(key.into()))
    }

    /// The key given (`KEFU_SECRET_KEY`), or the data dir's key file, made on first use.
    pub fn load(given: Option<&str>, data_dir: &Path) -> Result<SecretKey, SecretsError> {
        if let Some(text) = given {
            return SecretKey::parse(text);
        }
        let path = data_dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => SecretKey::parse(&text)
                .map_err(|e| SecretsError::BadKeyFile(path.clone(), e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_key_file(&path),
            Err(e) => Err(SecretsError::BadKeyFile(path.clone(), e.to_string())),
        }
    }

    pub fn seal(&self, field: Field, plaintext: &str) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let payload = Payload {
            msg: plaintext.as_bytes(),
            aad: field.aad(),
        };
        // Encrypting into a Vec fails only when the plaintext exceeds GCM's 64 GiB limit.
        let sealed = self
            .0
            .encrypt(Nonce::from_slice(&nonce), payload)
            .expect("AES-GCM seals any secret shorter than 64 GiB");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    pub fn open(&self, field: Field, sealed: &[u8]) -> Result<String, SecretsError> {
        let (&version, rest) = sealed.split_first().ok_or(SecretsError::WrongKey)?;
        if version != VERSION || rest.len() < NONCE_LEN {
            return Err(SecretsError::WrongKey);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let payload = Payload {
            msg: ciphertext,
            aad: field.aad(),
        };
        let plain = self
            .0
            .decrypt(Nonce::from_slice(nonce), payload)
            .map_err(|_| SecretsError::WrongKey)?;
        String::from_utf8(plain).map_err(|_| SecretsError::WrongKey)
    }
}

/// A new random key in a file only its owner may read. `create_new`, so that two processes
/// starting at once cannot each write their own: the loser reads the winner's.
fn create_key_file(path: &Path) -> Result<SecretKey, SecretsError> {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            let written = file
                .write_all(format!("{}\n", STANDARD.encode(key)).as_bytes())
                .and_then(|()| file.sync_all());
            if let Err(e) = written {
                let _ = std::fs::remove_file(path);
                return Err(SecretsError::CannotCreate(path.to_owned(), e));
            }
            tracing::info!(
                path = %path.display(),
                "created the key that seals the channels' secrets; back it up apart from the database"
            );
            Ok(SecretKey::from_bytes(&key))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| SecretsError::BadKeyFile(path.to_owned(), e.to_string()))?;
            SecretKey::parse(&text)
                .map_err(|e| SecretsError::BadKeyFile(path.to_owned(), e.to_string()))
        }
        Err(e) => Err(SecretsError::CannotCreate(path.to_owned(), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_with_its_key_and_field_only() {
        let key = SecretKey::parse(&STANDARD.encode([7u8; 32])).unwrap();
        let sealed = key.seal(Field::AppSecret, "s3cret");
        assert!(!sealed.windows(6).any(|w| w == b"s3cret"));
        assert_eq!(key.open(Field::AppSecret, &sealed).unwrap(), "s3cret");
        assert!(key.open(Field::Token, &sealed).is_err(), "another field");
        let other = SecretKey::parse(&hex::encode([8u8; 32])).unwrap();
        assert!(
            other.open(Field::AppSecret, &sealed).is_err(),
            "another key"
        );
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(key.open(Field::AppSecret, &tampered).is_err());
        assert!(key.open(Field::AppSecret, &[]).is_err());
        assert_ne!(
            sealed,
            key.seal(Field::AppSecret, "s3cret"),
            "a fresh nonce"
        );
    }

    #[test]
    fn keys_are_32_bytes_in_base64_or_hex() {
        for bad in ["", "short", &STANDARD.encode([1u8; 31]), &"zz".repeat(32)] {
            assert!(SecretKey::parse(bad).is_err(), "{bad}");
        }
        assert!(SecretKey::parse(&format!(" {} \n", STANDARD.encode([1u8; 32]))).is_ok());
    }

    #[test]
    fn the_key_file_is_made_once_readable_by_its_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let first = SecretKey::load(None, dir.path()).unwrap();
        let sealed = first.seal(Field::Token, "tok");
        let again = SecretKey::load(None, dir.path()).unwrap();
        assert_eq!(again.open(Field::Token, &sealed).unwrap(), "tok");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(dir.path().join(KEY_FILE), "garbage").unwrap();
        assert!(SecretKey::load(None, dir.path()).is_err());
    }
}
