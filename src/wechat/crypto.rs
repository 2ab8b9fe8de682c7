//! WeChat message crypto: the SHA-1 signatures that authenticate pushes (`signature` on the GET
//! check and on plaintext POSTs, `msg_signature` in safe mode), their constant-time comparison, and
//! the AES-256-CBC envelope of the `Encrypt` field (decrypting pushes, encrypting passive
//! replies). Everything here is pure: no I/O, no logging, no clock, and no input can make it
//! panic. It does not parse push bodies or pick which signature applies; `push` and the webhook do.
//!
//! Decryption is deliberately stricter than the SDKs (see `docs/WECHAT.md` §2.6): every pad
//! byte is checked, the length field must fit, and the trailing appid must match exactly.

use std::fmt;

use aes::Aes256;
use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

/// WeChat's PKCS#7 block size: 32 bytes, twice the AES block (docs/WECHAT.md §2.5).
const PAD_BLOCK: usize = 32;
/// `random16 ‖ u32_be(len)`: the fixed header in front of the message.
const HEADER_LEN: usize = 20;

/// sha1 hex (lowercase) of the byte-wise sorted concatenation of the parts.
pub fn sign(parts: &[&str]) -> String {
    let mut sorted = parts.to_vec();
    // `str`'s `Ord` is byte-wise lexicographic, which is what every SDK does.
    sorted.sort_unstable();
    let mut hasher = Sha1::new();
    for part in sorted {
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// GET verification and plaintext POST signature: `sign(&[token, timestamp, nonce])`.
pub fn signature(token: &str, timestamp: &str, nonce: &str) -> String {
    sign(&[token, timestamp, nonce])
}

/// Safe-mode signature over the body too: `sign(&[token, timestamp, nonce, encrypt])`.
pub fn msg_signature(token: &str, timestamp: &str, nonce: &str, encrypt: &str) -> String {
    sign(&[token, timestamp, nonce, encrypt])
}

/// Constant-time comparison of a received hex signature with a computed one.
///
/// The received side is compared case-insensitively (some senders upper-case hex); signatures
/// of differing lengths never match.
#[must_use = "a signature check whose result is ignored authenticates nothing"]
pub fn signatures_match(received: &str, computed: &str) -> bool {
    let received = received.to_ascii_lowercase();
    // `ct_eq` on slices of different lengths returns false (the length is not secret).
    received.as_bytes().ct_eq(computed.as_bytes()).into()
}

/// The 32-byte AES key derived from an EncodingAESKey. Never printed.
#[derive(Clone)]
pub struct AesKey([u8; 32]);

impl fmt::Debug for AesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AesKey([redacted])")
    }
}

impl AesKey {
    /// The 43-character EncodingAESKey: must be exactly 43 chars of the standard base64
    /// alphabet; `key + "="` decodes to 32 bytes.
    pub fn from_encoding_key(s: &str) -> Result<Self, CryptoError> {
        let well_formed = s.len() == 43
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
        if !well_formed {
            return Err(CryptoError::InvalidKey);
        }
        // Real keys (e.g. WxJava's "abc…ABCDEFG") leave non-zero bits in the last character,
        // which a canonical decoder rejects; WeChat and all SDKs accept them.
        const LENIENT: GeneralPurpose = GeneralPurpose::new(
            &alphabet::STANDARD,
            GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
        );
        let bytes = LENIENT
            .decode(format!("{s}="))
            .map_err(|_| CryptoError::InvalidKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::InvalidKey)?;
        Ok(Self(key))
    }

    fn iv(&self) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&self.0[..16]);
        iv
    }

    /// AES-256-CBC over data that is already a whole number of blocks.
    fn encrypt_blocks(&self, padded: &[u8]) -> Vec<u8> {
        debug_assert_eq!(padded.len() % PAD_BLOCK, 0);
        cbc::Encryptor::<Aes256>::new((&self.0).into(), (&self.iv()).into())
            .encrypt_padded_vec_mut::<NoPadding>(padded)
    }

    /// AES-256-CBC decryption without unpadding.
    fn decrypt_blocks(&self, ciphertext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        cbc::Decryptor::<Aes256>::new((&self.0).into(), (&self.iv()).into())
            .decrypt_padded_vec_mut::<NoPadding>(ciphertext)
            .map_err(|_| CryptoError::BadCiphertextLength)
    }
}

/// Encrypts and decrypts the `Encrypt` field for one appid (the mini program's, or the
/// third-party platform's when pushes come through one).
#[derive(Clone, Debug)]
pub struct Cipher {
    key: AesKey,
    appid: String,
}

impl Cipher {
    pub fn new(key: AesKey, appid: impl Into<String>) -> Self {
        Self {
            key,
            appid: appid.into(),
        }
    }

    pub fn appid(&self) -> &str {
        &self.appid
    }

    /// Decrypt the base64 `Encrypt` field and return the message bytes.
    ///
    /// Strict: the base64 must decode; the ciphertext length must be a non-zero multiple of 32;
    /// the PKCS#7 pad (32-byte block) must be 1..=32 with every pad byte equal to it; the
    /// plaintext `random16 ‖ u32_be(len) ‖ msg ‖ appid` must hold at least the header and the
    /// whole `msg`; and the trailing id must equal this cipher's appid exactly.
    pub fn decrypt(&self, encrypt_b64: &str) -> Result<Vec<u8>, CryptoError> {
        let full = self.decrypt_full(encrypt_b64)?;
        let (msg, appid) = split_full(&full)?;
        if appid != self.appid.as_bytes() {
            return Err(CryptoError::WrongAppId);
        }
        Ok(msg.to_vec())
    }

    /// Base64-decode, AES-decrypt and unpad: the whole `random16 ‖ len ‖ msg ‖ appid`.
    fn decrypt_full(&self, encrypt_b64: &str) -> Result<Vec<u8>, CryptoError> {
        let ciphertext = STANDARD
            .decode(encrypt_b64)
            .map_err(|_| CryptoError::NotBase64)?;
        if ciphertext.is_empty() || ciphertext.len() % PAD_BLOCK != 0 {
            return Err(CryptoError::BadCiphertextLength);
        }
        let mut plain = self.key.decrypt_blocks(&ciphertext)?;
        let unpadded_len = pkcs7_unpadded_len(&plain)?;
        plain.truncate(unpadded_len);
        Ok(plain)
    }

    /// Encrypt with a fresh random 16-byte prefix.
    ///
    /// # Panics
    ///
    /// If `msg` is 4 GiB or longer: the protocol's length field is a `u32`.
    pub fn encrypt(&self, msg: &[u8]) -> String {
        let random16: [u8; 16] = rand::random();
        self.encrypt_with_random(msg, &random16)
    }

    /// Deterministic variant for test vectors: the 16 random prefix bytes are given.
    ///
    /// # Panics
    ///
    /// If `msg` is 4 GiB or longer: the protocol's length field is a `u32`.
    pub fn encrypt_with_random(&self, msg: &[u8], random16: &[u8; 16]) -> String {
        // Silently truncating the length would produce a ciphertext that decrypts to garbage;
        // a message this size cannot come from a helpdesk reply.
        let len = u32::try_from(msg.len()).expect("a WeChat message is shorter than 4 GiB");
        let unpadded = HEADER_LEN + msg.len() + self.appid.len();
        let pad = PAD_BLOCK - unpadded % PAD_BLOCK;
        let mut full = Vec::with_capacity(unpadded + pad);
        full.extend_from_slice(random16);
        full.extend_from_slice(&len.to_be_bytes());
        full.extend_from_slice(msg);
        full.extend_from_slice(self.appid.as_bytes());
        // `pad` is 1..=32, so the cast is lossless.
        full.resize(unpadded + pad, pad as u8);
        STANDARD.encode(self.key.encrypt_blocks(&full))
    }
}

/// Length of `plain` once its 32-byte-block PKCS#7 padding is removed; every pad byte is checked.
fn pkcs7_unpadded_len(plain: &[u8]) -> Result<usize, CryptoError> {
    let pad = usize::from(*plain.last().ok_or(CryptoError::BadPadding)?);
    if pad == 0 || pad > PAD_BLOCK || pad > plain.len() {
        return Err(CryptoError::BadPadding);
    }
    let start = plain.len() - pad;
    if plain[start..].iter().any(|&b| usize::from(b) != pad) {
        return Err(CryptoError::BadPadding);
    }
    Ok(start)
}

/// Split an unpadded `random16 ‖ u32_be(len) ‖ msg ‖ appid` into `(msg, appid)`.
fn split_full(full: &[u8]) -> Result<(&[u8], &[u8]), CryptoError> {
    let Some((header, rest)) = full.split_first_chunk::<HEADER_LEN>() else {
        return Err(CryptoError::BadLengthField);
    };
    let len_bytes = [header[16], header[17], header[18], header[19]];
    let len =
        usize::try_from(u32::from_be_bytes(len_bytes)).map_err(|_| CryptoError::BadLengthField)?;
    if len > rest.len() {
        return Err(CryptoError::BadLengthField);
    }
    Ok(rest.split_at(len))
}

/// Why a key or an `Encrypt` field was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("the EncodingAESKey must be 43 characters of base64")]
    InvalidKey,
    #[error("the Encrypt field is not valid base64")]
    NotBase64,
    #[error("the ciphertext length is not a non-zero multiple of 32 bytes")]
    BadCiphertextLength,
    #[error("the decrypted message has invalid PKCS#7 padding")]
    BadPadding,
    #[error("the decrypted message length field is out of bounds")]
    BadLengthField,
    #[error("the decrypted message is for another appid")]
    WrongAppId,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    const OFFICIAL: &str =
        include_str!("../../tests/vectors/official_miniprogram_message_push_json.json");
    const WXJAVA: &str = include_str!("../../tests/vectors/wxjava_WxCryptUtilTest.json");
    const WECHATPY: &str = include_str!("../../tests/vectors/wechatpy_tests_test_crypto.json");
    const NODE_WEBOT: &str =
        include_str!("../../tests/vectors/node_webot_wechat_crypto_signature.json");

    fn vector(text: &str) -> Value {
        serde_json::from_str(text).expect("vector file is JSON")
    }

    fn s<'a>(v: &'a Value, pointer: &str) -> &'a str {
        v.pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("vector has string at {pointer}"))
    }

    fn cipher_for(v: &Value) -> Cipher {
        let key = AesKey::from_encoding_key(s(v, "/encoding_aes_key")).expect("vector key");
        Cipher::new(key, s(v, "/appid"))
    }

    fn random16(text: &str) -> [u8; 16] {
        text.as_bytes().try_into().expect("16 ASCII bytes")
    }

    /// The text between the `<![CDATA[` that follows `<{tag}>` and the next `]]>`.
    fn cdata<'a>(xml: &'a str, tag: &str) -> &'a str {
        let open = format!("<{tag}><![CDATA[");
        let start = xml.find(&open).expect("tag present") + open.len();
        let end = start + xml[start..].find("]]>").expect("CDATA closed");
        &xml[start..end]
    }

    /// Encrypts bytes that are already padded (or deliberately mispadded), for negative tests.
    fn encrypt_raw(cipher: &Cipher, padded: &[u8]) -> String {
        STANDARD.encode(cipher.key.encrypt_blocks(padded))
    }

    fn test_cipher() -> Cipher {
        Cipher::new(
            AesKey::from_encoding_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").unwrap(),
            "wx0123456789abcdef",
        )
    }

    /// `random16 ‖ len ‖ msg ‖ appid` with the given pad bytes appended, to a multiple of 32.
    fn full_with_pad(msg: &[u8], len: u32, appid: &str, pad: &[u8]) -> Vec<u8> {
        let mut full = b"0123456789abcdef".to_vec();
        full.extend_from_slice(&len.to_be_bytes());
        full.extend_from_slice(msg);
        full.extend_from_slice(appid.as_bytes());
        full.extend_from_slice(pad);
        assert_eq!(full.len() % 32, 0, "test helper misuse: not whole blocks");
        full
    }

    /// Correctly padded `random16 ‖ len ‖ msg ‖ appid`, with an arbitrary length field.
    fn padded_full(msg: &[u8], len: u32, appid: &str) -> Vec<u8> {
        let unpadded = 20 + msg.len() + appid.len();
        let pad = 32 - unpadded % 32;
        full_with_pad(msg, len, appid, &vec![pad as u8; pad])
    }

    // ---- official mini program vectors ----

    #[test]
    fn official_get_verification_signature_matches_the_documented_one() {
        let v = vector(OFFICIAL);
        let q = "/get_verification/query";
        let computed = signature(
            s(&v, "/token"),
            s(&v, &format!("{q}/timestamp")),
            s(&v, &format!("{q}/nonce")),
        );
        assert_eq!(computed, s(&v, &format!("{q}/signature")));
        assert!(signatures_match(
            s(&v, &format!("{q}/signature")),
            &computed
        ));
    }

    #[test]
    fn official_plaintext_post_signature_matches_with_token_aaaaa() {
        let v = vector(OFFICIAL);
        assert_eq!(s(&v, "/token"), "AAAAA");
        let q = "/plaintext_post/query";
        assert_eq!(
            signature(
                "AAAAA",
                s(&v, &format!("{q}/timestamp")),
                s(&v, &format!("{q}/nonce"))
            ),
            s(&v, &format!("{q}/signature"))
        );
    }

    #[test]
    fn official_safe_mode_query_signature_and_msg_signature_match() {
        let v = vector(OFFICIAL);
        let q = "/encrypted_post/query";
        let (token, ts, nonce) = (
            s(&v, "/token"),
            s(&v, &format!("{q}/timestamp")),
            s(&v, &format!("{q}/nonce")),
        );
        assert_eq!(
            signature(token, ts, nonce),
            s(&v, &format!("{q}/signature"))
        );
        let encrypt = s(&v, "/encrypted_post/body/Encrypt");
        assert_eq!(
            msg_signature(token, ts, nonce, encrypt),
            s(&v, &format!("{q}/msg_signature"))
        );
    }

    #[test]
    fn official_safe_mode_push_decrypts_to_the_documented_plaintext() {
        let v = vector(OFFICIAL);
        let cipher = cipher_for(&v);
        let encrypt = s(&v, "/encrypted_post/body/Encrypt");
        let msg = cipher.decrypt(encrypt).unwrap();
        assert_eq!(msg, s(&v, "/encrypted_post/expected_plaintext").as_bytes());
    }

    #[test]
    fn official_safe_mode_push_has_the_documented_prefix_length_and_sizes() {
        let v = vector(OFFICIAL);
        let cipher = cipher_for(&v);
        let encrypt = s(&v, "/encrypted_post/body/Encrypt");
        let p = "/encrypted_post";
        let int = |name: &str| {
            v.pointer(&format!("{p}/{name}"))
                .and_then(Value::as_u64)
                .unwrap() as usize
        };
        assert_eq!(
            STANDARD.decode(encrypt).unwrap().len(),
            int("expected_ciphertext_bytes")
        );
        let full = cipher.decrypt_full(encrypt).unwrap();
        assert_eq!(full.len(), int("expected_fullstr_bytes"));
        assert_eq!(
            &full[..16],
            s(&v, &format!("{p}/expected_random16")).as_bytes()
        );
        let len = u32::from_be_bytes(full[16..20].try_into().unwrap()) as usize;
        assert_eq!(len, int("expected_msg_len"));
        assert_eq!(&full[20 + len..], s(&v, "/appid").as_bytes());
    }

    #[test]
    fn official_encrypted_reply_is_reproduced_byte_for_byte() {
        let v = vector(OFFICIAL);
        let cipher = cipher_for(&v);
        let r = "/encrypted_reply";
        let encrypt = cipher.encrypt_with_random(
            s(&v, &format!("{r}/plaintext")).as_bytes(),
            &random16(s(&v, &format!("{r}/random16"))),
        );
        assert_eq!(encrypt, s(&v, &format!("{r}/expected_body/Encrypt")));
        let sizes = |name: &str| v.pointer(&format!("{r}/{name}")).and_then(Value::as_u64);
        assert_eq!(
            STANDARD.decode(&encrypt).unwrap().len() as u64,
            sizes("expected_ciphertext_bytes").unwrap()
        );
        assert_eq!(
            cipher.decrypt_full(&encrypt).unwrap().len() as u64,
            sizes("expected_fullstr_bytes").unwrap()
        );
        let timestamp = v
            .pointer(&format!("{r}/expected_body/TimeStamp"))
            .and_then(Value::as_u64)
            .unwrap()
            .to_string();
        assert_eq!(timestamp, "1713424427");
        assert_eq!(
            msg_signature(
                s(&v, "/token"),
                &timestamp,
                s(&v, &format!("{r}/expected_body/Nonce")),
                &encrypt
            ),
            s(&v, &format!("{r}/expected_body/MsgSignature"))
        );
    }

    // ---- WxJava ----

    #[test]
    fn wxjava_deterministic_encryptions_are_reproduced_and_decrypt_back() {
        let v = vector(WXJAVA);
        let cipher = cipher_for(&v);
        let prefix = random16(s(&v, "/random16"));
        let cases = v["cases"].as_array().unwrap();
        assert_eq!(cases.len(), 2);
        for case in cases {
            let plaintext = s(case, "/plaintext");
            let expected = s(case, "/expected_Encrypt");
            assert_eq!(
                cipher.encrypt_with_random(plaintext.as_bytes(), &prefix),
                expected
            );
            assert_eq!(cipher.decrypt(expected).unwrap(), plaintext.as_bytes());
        }
    }

    // ---- wechatpy (WeCom values, same algorithm) ----

    #[test]
    fn wechatpy_xml_push_signature_matches_and_decrypts_to_the_expected_fields() {
        let v = vector(WECHATPY);
        let cipher = cipher_for(&v);
        let encrypt = cdata(s(&v, "/decrypt/body_xml"), "Encrypt");
        assert_eq!(
            msg_signature(
                s(&v, "/token"),
                s(&v, "/decrypt/timestamp"),
                s(&v, "/decrypt/nonce"),
                encrypt
            ),
            s(&v, "/decrypt/msg_signature")
        );
        let xml = String::from_utf8(cipher.decrypt(encrypt).unwrap()).unwrap();
        let fields = v.pointer("/decrypt/expected_fields").unwrap();
        let fields = fields.as_object().unwrap();
        assert!(!fields.is_empty());
        for (name, value) in fields {
            assert_eq!(cdata(&xml, name), value.as_str().unwrap(), "field {name}");
        }
    }

    #[test]
    fn wechatpy_echostr_signature_matches_and_decrypts_to_the_observed_value() {
        let v = vector(WECHATPY);
        let cipher = cipher_for(&v);
        let e = "/echostr_check";
        let echostr = s(&v, &format!("{e}/echostr"));
        assert_eq!(
            msg_signature(
                s(&v, "/token"),
                s(&v, &format!("{e}/timestamp")),
                s(&v, &format!("{e}/nonce")),
                echostr
            ),
            s(&v, &format!("{e}/msg_signature"))
        );
        assert_eq!(cipher.decrypt(echostr).unwrap(), b"5927782489442352469");
        assert_eq!(
            s(&v, &format!("{e}/decrypted_echostr_observed")),
            "5927782489442352469"
        );
    }

    #[test]
    fn wechatpy_deterministic_encryption_reproduces_encrypt_and_msg_signature() {
        let v = vector(WECHATPY);
        let cipher = cipher_for(&v);
        let expected_xml = s(&v, "/encrypt/expected_xml");
        let encrypt = cipher.encrypt_with_random(
            s(&v, "/encrypt/plaintext").as_bytes(),
            &random16(s(&v, "/encrypt/random16")),
        );
        assert_eq!(encrypt, cdata(expected_xml, "Encrypt"));
        assert_eq!(
            msg_signature(
                s(&v, "/token"),
                s(&v, "/encrypt/timestamp"),
                s(&v, "/encrypt/nonce"),
                &encrypt
            ),
            cdata(expected_xml, "MsgSignature")
        );
    }

    // ---- node-webot ----

    #[test]
    fn node_webot_msg_signature_matches() {
        let v = vector(NODE_WEBOT);
        let i = "/signature_inputs";
        assert_eq!(
            msg_signature(
                s(&v, "/token"),
                s(&v, &format!("{i}/timestamp")),
                s(&v, &format!("{i}/nonce")),
                s(&v, &format!("{i}/encrypt"))
            ),
            s(&v, "/expected_signature")
        );
        // The key there is a real one with non-zero trailing bits: it must load.
        cipher_for(&v);
    }

    // ---- signatures ----

    #[test]
    fn sign_sorts_parts_byte_wise_before_hashing() {
        assert_eq!(sign(&["b", "a", "C"]), sign(&["C", "a", "b"]));
        // "C" (0x43) sorts before "a" (0x61): sha1("Cab").
        assert_eq!(sign(&["b", "a", "C"]), hex::encode(Sha1::digest(b"Cab")));
    }

    #[test]
    fn signatures_match_accepts_the_right_one_in_either_case() {
        let computed = signature("AAAAA", "1714036504", "1514711492");
        assert!(signatures_match(&computed, &computed));
        assert!(signatures_match(&computed.to_ascii_uppercase(), &computed));
    }

    #[test]
    fn signatures_match_rejects_a_different_signature_or_length() {
        let computed = signature("AAAAA", "1714036504", "1514711492");
        let other = signature("AAAAB", "1714036504", "1514711492");
        assert!(!signatures_match(&other, &computed));
        assert!(!signatures_match(&computed[..39], &computed));
        assert!(!signatures_match(&format!("{computed}0"), &computed));
        assert!(!signatures_match("", &computed));
    }

    // ---- keys ----

    #[test]
    fn a_key_of_the_wrong_length_or_alphabet_is_refused() {
        let good = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
        assert!(AesKey::from_encoding_key(good).is_ok());
        for bad in [
            &good[..42],
            format!("{good}A").as_str(),
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF=",
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF-",
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF_",
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDE é",
            "",
        ] {
            assert_eq!(
                AesKey::from_encoding_key(bad).unwrap_err(),
                CryptoError::InvalidKey,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_all_a_key_decodes_to_32_zero_bytes() {
        let key = AesKey::from_encoding_key(&"A".repeat(43)).unwrap();
        assert_eq!(key.0, [0u8; 32]);
    }

    #[test]
    fn debug_output_never_shows_the_key() {
        let cipher = test_cipher();
        assert_eq!(format!("{:?}", cipher.key), "AesKey([redacted])");
        let shown = format!("{cipher:?}");
        assert!(shown.contains("AesKey([redacted])"), "{shown}");
        assert!(shown.contains("wx0123456789abcdef"), "{shown}");
    }

    // ---- decryption refusals ----

    #[test]
    fn a_push_for_another_appid_is_refused() {
        let sender = test_cipher();
        let receiver = Cipher::new(sender.key.clone(), "wx0123456789abcdeX");
        let encrypt = sender.encrypt(b"hello");
        assert_eq!(receiver.decrypt(&encrypt), Err(CryptoError::WrongAppId));
        // A prefix or an extension of the right appid is not the appid either.
        let shorter = Cipher::new(sender.key.clone(), "wx0123456789abcde");
        assert_eq!(shorter.decrypt(&encrypt), Err(CryptoError::WrongAppId));
        let longer = Cipher::new(sender.key.clone(), "wx0123456789abcdef0");
        assert_eq!(longer.decrypt(&encrypt), Err(CryptoError::WrongAppId));
    }

    #[test]
    fn a_flipped_final_ciphertext_byte_is_refused() {
        let cipher = test_cipher();
        let mut bytes = STANDARD.decode(cipher.encrypt(b"hello")).unwrap();
        *bytes.last_mut().unwrap() ^= 0x01;
        let result = cipher.decrypt(&STANDARD.encode(&bytes));
        // Almost always bad padding; in the rare case the garbled block still looks padded,
        // the length or appid checks catch it. It must never decrypt.
        assert!(
            matches!(
                result,
                Err(CryptoError::BadPadding
                    | CryptoError::BadLengthField
                    | CryptoError::WrongAppId)
            ),
            "{result:?}"
        );
    }

    #[test]
    fn a_pad_byte_of_zero_is_bad_padding() {
        let cipher = test_cipher();
        // 20 + 6 + 18 = 44 -> 20 bytes of zeros.
        let full = full_with_pad(b"hello!", 6, cipher.appid(), &[0; 20]);
        assert_eq!(
            cipher.decrypt(&encrypt_raw(&cipher, &full)),
            Err(CryptoError::BadPadding)
        );
    }

    #[test]
    fn a_pad_byte_above_32_is_bad_padding() {
        let cipher = test_cipher();
        // 20 + 26 + 18 = 64 bytes, last block ends with 33 (all of its last 33 bytes = 33).
        let msg = [33u8; 26];
        let full = full_with_pad(&msg, 26, cipher.appid(), &[33; 32]);
        assert_eq!(
            cipher.decrypt(&encrypt_raw(&cipher, &full)),
            Err(CryptoError::BadPadding)
        );
    }

    #[test]
    fn pad_bytes_that_are_not_all_equal_are_bad_padding() {
        let cipher = test_cipher();
        // 44 bytes + 20 pad bytes claiming 20, one of them wrong.
        let mut pad = [20u8; 20];
        pad[0] = 19;
        let full = full_with_pad(b"hello!", 6, cipher.appid(), &pad);
        assert_eq!(
            cipher.decrypt(&encrypt_raw(&cipher, &full)),
            Err(CryptoError::BadPadding)
        );
        // The same layout with consistent pad bytes decrypts, so only the pad was at fault.
        let full = full_with_pad(b"hello!", 6, cipher.appid(), &[20; 20]);
        assert_eq!(
            cipher.decrypt(&encrypt_raw(&cipher, &full)).unwrap(),
            b"hello!"
        );
    }

    #[test]
    fn a_pad_of_a_full_block_is_accepted() {
        let cipher = test_cipher();
        // 20 + 26 + 18 = 64: exactly two blocks, so a whole 32-byte block of 32s is added.
        let msg = [b'x'; 26];
        let encrypt = cipher.encrypt(&msg);
        assert_eq!(STANDARD.decode(&encrypt).unwrap().len(), 96);
        assert_eq!(cipher.decrypt(&encrypt).unwrap(), msg);
    }

    #[test]
    fn ciphertexts_that_are_not_whole_32_byte_blocks_are_refused() {
        let cipher = test_cipher();
        for len in [16, 48, 31, 33, 1] {
            assert_eq!(
                cipher.decrypt(&STANDARD.encode(vec![0u8; len])),
                Err(CryptoError::BadCiphertextLength),
                "{len} bytes"
            );
        }
    }

    #[test]
    fn an_empty_encrypt_field_is_refused() {
        assert_eq!(
            test_cipher().decrypt(""),
            Err(CryptoError::BadCiphertextLength)
        );
    }

    #[test]
    fn text_that_is_not_base64_is_refused() {
        let cipher = test_cipher();
        for bad in [
            "not base64!",
            "ab$d",
            "abc",
            "YWJj\n",
            " YWJj",
            "YWJjZA=",
            "YWJjZA===",
        ] {
            assert_eq!(cipher.decrypt(bad), Err(CryptoError::NotBase64), "{bad:?}");
        }
    }

    #[test]
    fn a_length_field_bigger_than_the_message_is_refused() {
        let cipher = test_cipher();
        // 20 + 5 + 18 bytes actually there; the field claims one byte more than msg + appid.
        let full = padded_full(b"hello", 5 + 18 + 1, cipher.appid());
        assert_eq!(
            cipher.decrypt(&encrypt_raw(&cipher, &full)),
            Err(CryptoError::BadLengthField)
        );
        let full = padded_full(b"hello", u32::MAX, cipher.appid());
        assert_eq!(
            cipher.decrypt(&encrypt_raw(&cipher, &full)),
            Err(CryptoError::BadLengthField)
        );
        // Claiming exactly msg + appid leaves an empty trailing id: the appid check refuses it.
        let full = padded_full(b"hello", 5 + 18, cipher.appid());
        assert_eq!(
            cipher.decrypt(&encrypt_raw(&cipher, &full)),
            Err(CryptoError::WrongAppId)
        );
    }

    #[test]
    fn a_plaintext_shorter_than_its_20_byte_header_is_refused() {
        let cipher = test_cipher();
        // 19 bytes of content then 13 pad bytes of 13.
        let mut full = vec![b'a'; 19];
        full.extend_from_slice(&[13; 13]);
        assert_eq!(
            cipher.decrypt(&encrypt_raw(&cipher, &full)),
            Err(CryptoError::BadLengthField)
        );
        // A whole block of padding: nothing left at all.
        assert_eq!(
            cipher.decrypt(&encrypt_raw(&cipher, &[32; 32])),
            Err(CryptoError::BadLengthField)
        );
    }

    #[test]
    fn error_messages_read_as_sentences() {
        assert_eq!(
            CryptoError::InvalidKey.to_string(),
            "the EncodingAESKey must be 43 characters of base64"
        );
        assert_eq!(
            CryptoError::WrongAppId.to_string(),
            "the decrypted message is for another appid"
        );
    }

    // ---- round trips ----

    #[test]
    fn an_empty_message_round_trips() {
        let cipher = test_cipher();
        assert_eq!(cipher.decrypt(&cipher.encrypt(b"")).unwrap(), b"");
    }

    #[test]
    fn a_one_mebibyte_message_round_trips() {
        let cipher = test_cipher();
        let msg: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
        assert_eq!(cipher.decrypt(&cipher.encrypt(&msg)).unwrap(), msg);
    }

    #[test]
    fn two_encryptions_of_the_same_message_differ() {
        let cipher = test_cipher();
        assert_ne!(cipher.encrypt(b"same"), cipher.encrypt(b"same"));
    }

    #[test]
    fn a_non_ascii_random_prefix_round_trips() {
        let cipher = test_cipher();
        let encrypt = cipher.encrypt_with_random("你好".as_bytes(), &[0xff; 16]);
        assert_eq!(cipher.decrypt(&encrypt).unwrap(), "你好".as_bytes());
        assert_eq!(&cipher.decrypt_full(&encrypt).unwrap()[..16], &[0xff; 16]);
    }

    proptest! {
        #[test]
        fn any_byte_message_round_trips(
            msg in proptest::collection::vec(any::<u8>(), 0..2048),
            prefix in any::<[u8; 16]>(),
        ) {
            let cipher = test_cipher();
            let encrypt = cipher.encrypt_with_random(&msg, &prefix);
            prop_assert_eq!(cipher.decrypt(&encrypt).unwrap(), msg);
        }

        #[test]
        fn any_unicode_text_round_trips(
            text in any::<String>(),
            mixed in "[a-z0-9 你好世界中文😀🎉👍\u{1F600}-\u{1F64F}]{0,200}",
        ) {
            let cipher = test_cipher();
            for t in [&text, &mixed] {
                let back = cipher.decrypt(&cipher.encrypt(t.as_bytes())).unwrap();
                prop_assert_eq!(String::from_utf8(back).unwrap(), t.as_str());
            }
        }

        #[test]
        fn decrypt_never_panics_on_base64_of_arbitrary_bytes(
            bytes in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            let _ = test_cipher().decrypt(&STANDARD.encode(&bytes));
        }

        #[test]
        fn decrypt_never_panics_on_whole_blocks_of_arbitrary_bytes(
            blocks in proptest::collection::vec(any::<[u8; 32]>(), 1..8),
        ) {
            let bytes: Vec<u8> = blocks.concat();
            let _ = test_cipher().decrypt(&STANDARD.encode(&bytes));
        }

        #[test]
        fn decrypt_never_panics_on_arbitrary_text(text in any::<String>()) {
            let _ = test_cipher().decrypt(&text);
        }

        #[test]
        fn a_key_loads_if_and_only_if_it_is_43_base64_characters(
            key in "[A-Za-z0-9+/]{43}",
            junk in any::<String>(),
        ) {
            prop_assert!(AesKey::from_encoding_key(&key).is_ok());
            let junk_ok = junk.len() == 43
                && junk.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
            prop_assert_eq!(AesKey::from_encoding_key(&junk).is_ok(), junk_ok);
        }
    }
}
