//! Passive replies: what kefu answers in the webhook's HTTP response instead of `success`.
//! The transfer to WeChat's own customer-service tool (docs/WECHAT.md §3), and an Official
//! Account's passive text reply: the four documented fields, in the push's data format, and in
//! safe mode encrypted into the `Encrypt`/`MsgSignature`/`TimeStamp`/`Nonce` envelope.

use serde_json::json;

use crate::wechat::crypto::{Cipher, msg_signature};
use crate::wechat::push::{Format, Push};

/// CDATA cannot hold `]]>`; split it across two sections (ids never contain it, but the
/// reply must stay well-formed whatever arrived).
fn cdata(s: &str) -> String {
    format!("<![CDATA[{}]]>", s.replace("]]>", "]]]]><![CDATA[>"))
}

/// `transfer_customer_service` for the customer who sent `push`: to them, from the mini
/// program (the push's addressing, swapped).
pub fn transfer_customer_service(push: &Push, format: Format, now_secs: i64) -> String {
    match format {
        Format::Xml => format!(
            "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName><CreateTime>{now_secs}</CreateTime><MsgType><![CDATA[transfer_customer_service]]></MsgType></xml>",
            cdata(&push.from_user),
            cdata(&push.to_user),
        ),
        Format::Json => json!({
            "ToUserName": push.from_user,
            "FromUserName": push.to_user,
            "CreateTime": now_secs,
            "MsgType": "transfer_customer_service",
        })
        .to_string(),
    }
}

/// A text answered in the push's response (an Official Account's passive reply): to the
/// customer who sent `push`, from the account, in the push's data format.
pub fn text(push: &Push, content: &str, format: Format, now_secs: i64) -> String {
    match format {
        Format::Xml => format!(
            "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName><CreateTime>{now_secs}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content>{}</Content></xml>",
            cdata(&push.from_user),
            cdata(&push.to_user),
            cdata(content),
        ),
        Format::Json => json!({
            "ToUserName": push.from_user,
            "FromUserName": push.to_user,
            "CreateTime": now_secs,
            "MsgType": "text",
            "Content": content,
        })
        .to_string(),
    }
}

/// A reply encrypted for safe mode: `MsgSignature = sha1(sort(token, TimeStamp, Nonce,
/// Encrypt))`, the nonce echoing the push's.
pub fn encrypted(
    cipher: &Cipher,
    token: &str,
    plaintext: &str,
    nonce: &str,
    timestamp: i64,
    format: Format,
) -> String {
    let encrypt = cipher.encrypt(plaintext.as_bytes());
    let signature = msg_signature(token, &timestamp.to_string(), nonce, &encrypt);
    match format {
        Format::Json => json!({
            "Encrypt": encrypt,
            "MsgSignature": signature,
            "TimeStamp": timestamp,
            "Nonce": nonce,
        })
        .to_string(),
        Format::Xml => format!(
            "<xml><Encrypt>{}</Encrypt><MsgSignature>{}</MsgSignature><TimeStamp>{timestamp}</TimeStamp><Nonce>{}</Nonce></xml>",
            cdata(&encrypt),
            cdata(&signature),
            cdata(nonce),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wechat::crypto::AesKey;
    use crate::wechat::push::encrypted_field;

    fn push(format: Format) -> Push {
        let body = match format {
            Format::Json => r#"{"ToUserName":"gh_abc","FromUserName":"oUser]]>1","CreateTime":1700000000,"MsgType":"text","Content":"转人工","MsgId":"1"}"#.to_owned(),
            Format::Xml => "<xml><ToUserName><![CDATA[gh_abc]]></ToUserName><FromUserName><![CDATA[oUser1]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[转人工]]></Content><MsgId>1</MsgId></xml>".to_owned(),
        };
        Push::parse(body.as_bytes(), format).expect("a push")
    }

    #[test]
    fn the_transfer_is_addressed_back_to_the_customer_in_the_pushs_format() {
        let json: serde_json::Value = serde_json::from_str(&transfer_customer_service(
            &push(Format::Json),
            Format::Json,
            1_700_000_001,
        ))
        .unwrap();
        assert_eq!(json["ToUserName"], "oUser]]>1");
        assert_eq!(json["FromUserName"], "gh_abc");
        assert_eq!(json["MsgType"], "transfer_customer_service");
        assert_eq!(json["CreateTime"], 1_700_000_001);

        let xml = transfer_customer_service(&push(Format::Xml), Format::Xml, 1_700_000_001);
        assert_eq!(
            xml,
            "<xml><ToUserName><![CDATA[oUser1]]></ToUserName><FromUserName><![CDATA[gh_abc]]></FromUserName><CreateTime>1700000001</CreateTime><MsgType><![CDATA[transfer_customer_service]]></MsgType></xml>"
        );
        // an id with a CDATA end still makes well-formed XML that reads back the same
        let tricky = transfer_customer_service(&push(Format::Json), Format::Xml, 1);
        assert!(tricky.contains("oUser]]]]><![CDATA[>1"));
    }

    #[test]
    fn an_encrypted_reply_decrypts_and_its_signature_holds() {
        let key = AesKey::from_encoding_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").unwrap();
        let cipher = Cipher::new(key, "wx1234567890abcdef");
        for format in [Format::Json, Format::Xml] {
            let plain = transfer_customer_service(&push(format), format, 1_700_000_001);
            let body = encrypted(&cipher, "token", &plain, "nonce1", 1_700_000_002, format);
            let encrypt = encrypted_field(body.as_bytes(), format).expect("an Encrypt field");
            assert_eq!(cipher.decrypt(&encrypt).unwrap(), plain.as_bytes());
            let expected = msg_signature("token", "1700000002", "nonce1", &encrypt);
            assert!(body.contains(&expected), "{body}");
        }
    }
}
