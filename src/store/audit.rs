//! The audit log: who changed what, when. Written in the same transaction as the change.

use sqlx::SqliteConnection;

use crate::domain::Millis;

/// Who made a change: a staff user, or the command line / kefu itself (`actor_id` none).
#[derive(Debug, Clone)]
pub struct Actor {
    pub id: Option<i64>,
    pub name: String,
}

impl Actor {
    pub fn cli() -> Actor {
        Actor {
            id: None,
            name: "command line".to_owned(),
        }
    }
    pub fn system() -> Actor {
        Actor {
            id: None,
            name: "kefu".to_owned(),
        }
    }
}

pub async fn record(
    conn: &mut SqliteConnection,
    actor: &Actor,
    action: &str,
    target: &str,
    detail: Option<&str>,
    now: Millis,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into audit_log (at, actor_id, actor, action, target, detail) values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(now)
    .bind(actor.id)
    .bind(&actor.name)
    .bind(action)
    .bind(target)
    .bind(detail)
    .execute(conn)
    .await
    .map(|_| ())
}
