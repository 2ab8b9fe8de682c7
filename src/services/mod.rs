//! The business rules, one file per noun, called by web handlers and the command line alike:
//! a handler reads its request, calls a service, renders the outcome; a `kefu` command does the
//! same with its arguments. So a rule (the last admin stays, a new password ends the
//! sessions, an agent does not take a colleague's conversation) holds whoever asks.
//!
//! A service takes the state it needs (the store, the live bus, the bot) and typed inputs,
//! checks the rules, makes the change in one transaction with its audit entry, tells whoever
//! must know (dashboards, the bot's matcher) once it is committed, and returns a typed result
//! or an error named by the outcome (`AppError`, or an error of its own that converts into
//! it). No HTTP here: no extractors, status codes, forms or response bodies.
//!
//! | service | owns |
//! | --- | --- |
//! | `accounts` | staff accounts: adding, role, disabling, passwords, language, API tokens, the first admin |
//! | `conversations` | a conversation's status, assignee and handler, reading it, its contact's name and note |
//! | `labels` | labels: admins define them, anyone signed in puts them on conversations |
//! | `replies` | what a reply may contain, for agents' replies and the bot's rules alike |
//! | `rules` | the bot's rules: checking, saving, switching, moving, deleting, recompiling, trying |
//! | `settings` | the bot's settings |
//! | `canned` | canned replies, shared and personal |
//! | `channels` | the WeChat accounts kefu serves: adding, changing, switching off; their secrets sealed |

pub mod accounts;
pub mod canned;
pub mod channels;
pub mod conversations;
pub mod labels;
pub mod replies;
pub mod reports;
pub mod rules;
pub mod settings;

use crate::domain::{Locale, Role};
use crate::error::AppError;
use crate::store::audit::Actor;
use crate::store::staff::StaffRow;

/// A signed-in staff member (from a session cookie or an API token): who asks for a change,
/// for the audit log and for the rules about what is theirs and what only admins may do.
/// `web::auth` reads it from a request.
#[derive(Debug, Clone)]
pub struct Staff {
    pub id: i64,
    pub username: String,
    pub name: String,
    pub role: Role,
    pub locale: Option<Locale>,
    /// the channels this staff member sees; None: every channel (admins always)
    pub channels: Option<Vec<i64>>,
}

impl Staff {
    pub fn actor(&self) -> Actor {
        Actor {
            id: Some(self.id),
            name: self.name.clone(),
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Whether this staff member may see the conversations of `channel`.
    pub fn sees_channel(&self, channel: i64) -> bool {
        self.channels.as_ref().is_none_or(|c| c.contains(&channel))
    }
}

/// The channels a staff row is limited to: None for admins and for agents without a list.
/// An id that does not read is dropped (the list only ever holds ids kefu wrote).
pub fn channels_of(role: Role, channel_ids: Option<&str>) -> Option<Vec<i64>> {
    match (role, channel_ids) {
        (Role::Admin, _) | (_, None) => None,
        (Role::Agent, Some(ids)) => Some(
            ids.split(',')
                .filter_map(|id| id.trim().parse().ok())
                .collect(),
        ),
    }
}

impl From<StaffRow> for Staff {
    fn from(u: StaffRow) -> Staff {
        Staff {
            id: u.id,
            role: u.role,
            channels: channels_of(u.role, u.channel_ids.as_deref()),
            username: u.username,
            name: u.display_name,
            locale: u.locale,
        }
    }
}

/// Who asks for a change that the command line may make too (staff accounts).
#[derive(Debug, Clone, Copy)]
pub enum Caller<'a> {
    /// a signed-in staff member (the admin console, the settings page)
    Staff(&'a Staff),
    /// the operator at the command line: whoever can run `kefu` on the server may do what an
    /// admin may
    Cli,
    /// kefu itself (the first admin of an empty database)
    System,
}

impl Caller<'_> {
    pub fn actor(self) -> Actor {
        match self {
            Caller::Staff(s) => s.actor(),
            Caller::Cli => Actor::cli(),
            Caller::System => Actor::system(),
        }
    }

    /// The staff account asking, if a staff member asks.
    pub fn staff_id(self) -> Option<i64> {
        match self {
            Caller::Staff(s) => Some(s.id),
            Caller::Cli | Caller::System => None,
        }
    }
}

/// The language of a service's sentences when only the staff member is known: their own
/// setting, else English (as the JSON API's default). The web handlers, which know the
/// browser's language too, check first and say it in that.
pub fn staff_lang(staff: &Staff) -> crate::i18n::Lang {
    crate::i18n::Lang::preferred(staff.locale.map(crate::domain::Locale::as_str), None)
        .unwrap_or(crate::i18n::Lang::En)
}

/// Refuses anyone but an admin (checked by every service that changes what only admins may).
pub fn require_admin(staff: &Staff, what: &str) -> Result<(), AppError> {
    if staff.is_admin() {
        Ok(())
    } else {
        Err(AppError::Forbidden(format!(
            "only admins can change {what}"
        )))
    }
}
