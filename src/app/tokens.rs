//! WeChat's access token kept in the database (`TokenStore` for `wechat::api`), so every
//! process on one database shares it.

use crate::store::{Store, tokens};
use crate::wechat::api::{BoxFuture, TokenStore};

/// The access token lives in the database, shared by every process on it.
pub(crate) struct DbTokens {
    pub(crate) store: Store,
    pub(crate) appid: String,
}

impl TokenStore for DbTokens {
    fn load(&self) -> BoxFuture<'_, Option<(String, i64)>> {
        Box::pin(async move {
            tokens::load(self.store.pool(), &self.appid)
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "cannot read the stored access token");
                    None
                })
        })
    }
    fn save<'a>(&'a self, token: &'a str, expires_at: i64) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let now = crate::domain::now_millis();
            if let Err(e) =
                tokens::save(self.store.pool(), &self.appid, token, expires_at, now).await
            {
                tracing::warn!(error = %e, "cannot store the access token");
            }
        })
    }
    fn invalidate<'a>(&'a self, token: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Err(e) = tokens::invalidate(self.store.pool(), &self.appid, token).await {
                tracing::warn!(error = %e, "cannot forget the failed access token");
            }
        })
    }
}
