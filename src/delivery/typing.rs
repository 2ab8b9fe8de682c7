//! WeChat's typing indicator, sent within WeChat's limits (`TypingLimiter`).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::domain::{Millis, now_millis};
use crate::wechat::api::{ApiError, Typing, WechatApi};

/// WeChat's typing limits: at most one indicator per 15 s per customer, and only within 30 s
/// of the customer's last message.
#[derive(Default)]
pub struct TypingLimiter {
    last_sent: Mutex<HashMap<i64, Millis>>,
}

pub const TYPING_EVERY_MS: Millis = 15_000;
pub const TYPING_WITHIN_MS: Millis = 30_000;

impl TypingLimiter {
    /// Sends WeChat's typing indicator for this contact when the limits allow; Ok(false) when
    /// they do not (nothing is sent).
    pub async fn typing(
        &self,
        api: &WechatApi,
        contact_id: i64,
        openid: &str,
        last_interaction: Option<Millis>,
    ) -> Result<bool, ApiError> {
        let now = now_millis();
        if last_interaction.is_none_or(|at| now - at > TYPING_WITHIN_MS) {
            return Ok(false);
        }
        {
            let mut last = self.last_sent.lock().unwrap_or_else(|e| e.into_inner());
            if last
                .get(&contact_id)
                .is_some_and(|at| now - at < TYPING_EVERY_MS)
            {
                return Ok(false);
            }
            last.retain(|_, at| now - *at < TYPING_EVERY_MS);
            last.insert(contact_id, now);
        }
        api.typing(openid, Typing::Start).await.map(|_| true)
    }
}
