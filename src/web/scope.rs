//! Agents limited to some channels see nothing of the others. Every route about one
//! conversation (`/conversations/{id}…`, `/api/v1/conversations/{id}…`) or one message
//! (`/api/v1/messages/{id}…`) answers as if a conversation of another channel did not exist:
//! 404. One layer in front of all of them, so that no handler can forget the check; lists,
//! counts and live updates narrow by the caller's channels where they are read.

use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::error::AppError;
use crate::services::Staff;
use crate::store::conversations;

/// What a path names: a conversation or a message, by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Named {
    Conversation(i64),
    Message(i64),
}

fn named_in(path: &str) -> Option<Named> {
    let (rest, conversation) = if let Some(rest) = path.strip_prefix("/api/v1/conversations/") {
        (rest, true)
    } else if let Some(rest) = path.strip_prefix("/conversations/") {
        (rest, true)
    } else if let Some(rest) = path.strip_prefix("/api/v1/messages/") {
        (rest, false)
    } else {
        return None;
    };
    let id = super::path_id(rest.split('/').next().unwrap_or_default())?;
    Some(if conversation {
        Named::Conversation(id)
    } else {
        Named::Message(id)
    })
}

pub async fn within_channels(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(named) = named_in(request.uri().path()) else {
        return next.run(request).await;
    };
    let (mut parts, body) = request.into_parts();
    // the handler's own extractor answers a caller who is not signed in; the staff member
    // found here is kept on the request, so it is not looked up twice
    if let Ok(staff) = Staff::from_request_parts(&mut parts, &state).await
        && let Some(within) = &staff.channels
    {
        let store = &state.store;
        let channel = match named {
            Named::Conversation(id) => conversations::channel_of(store, id).await,
            Named::Message(id) => conversations::channel_of_message(store, id).await,
        };
        match channel {
            Ok(Some(channel)) if !within.contains(&channel) => {
                let what = match named {
                    Named::Conversation(id) => format!("there is no conversation {id}"),
                    Named::Message(id) => format!("there is no message {id}"),
                };
                return AppError::NotFound(what).into_response();
            }
            Ok(_) => {}
            Err(e) => return AppError::from(e).into_response(),
        }
    }
    next.run(Request::from_parts(parts, body)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_paths_that_name_a_conversation_or_a_message() {
        assert_eq!(named_in("/conversations/12"), Some(Named::Conversation(12)));
        assert_eq!(
            named_in("/conversations/12/transcript"),
            Some(Named::Conversation(12))
        );
        assert_eq!(
            named_in("/api/v1/conversations/7/messages"),
            Some(Named::Conversation(7))
        );
        assert_eq!(
            named_in("/api/v1/messages/9/media"),
            Some(Named::Message(9))
        );
        assert_eq!(named_in("/api/v1/conversations/bulk"), None);
        assert_eq!(named_in("/api/v1/conversations"), None);
        assert_eq!(named_in("/inbox"), None);
    }
}
