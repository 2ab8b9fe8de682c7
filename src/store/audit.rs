//! The audit log: who changed what, when. Written in the same transaction as the change,
//! read newest first by the admin console.

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

/// One audit entry as the console lists it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub at: Millis,
    pub actor_id: Option<i64>,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub detail: Option<String>,
}

/// Up to `limit` entries older than the entry `before` (all when None), newest first. Keyset
/// pagination on the id, which grows with every entry: a page stays the same however many
/// entries are written meanwhile, and reading page 1,000 costs what page 1 does.
pub async fn list<'e>(
    db: impl sqlx::SqliteExecutor<'e>,
    before: Option<i64>,
    limit: i64,
) -> sqlx::Result<Vec<AuditRow>> {
    sqlx::query_as(
        r"select id, at, actor_id, actor, action, target, detail from audit_log
           where $1 is null or id < $1
           order by id desc
           limit $2",
    )
    .bind(before)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// The entries about one target (such as `conversation 12`), oldest first, at most `limit`
/// (on `audit_log_by_target`).
pub async fn of_target<'e>(
    db: impl sqlx::SqliteExecutor<'e>,
    target: &str,
    limit: i64,
) -> sqlx::Result<Vec<AuditRow>> {
    sqlx::query_as(
        r"select id, at, actor_id, actor, action, target, detail from audit_log
           where target = $1
           order by id
           limit $2",
    )
    .bind(target)
    .bind(limit)
    .fetch_all(db)
    .await
}
