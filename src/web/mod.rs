//! The HTTP surface, one file per area; each exports its own `router()` and `router.rs` merges
//! them.

pub mod admin;
pub mod api;
pub mod assets;
pub mod auth;
pub mod canned;
pub mod channels;
pub mod client_ip;
pub mod contact;
pub mod conversation;
pub mod demo;
pub mod health;
pub mod home;
pub mod inbox;
pub mod json;
pub mod live_render;
pub mod pages;
pub mod reports;
pub mod router;
pub mod rules;
pub mod scope;
pub mod search;
pub mod settings;
pub mod views;
pub mod webhook;
pub mod ws;

#[cfg(test)]
mod fuzz;

/// An id from a URL path: a positive whole number, else None (which each caller answers as
/// "there is no such thing").
pub fn path_id(id: &str) -> Option<i64> {
    id.parse::<i64>().ok().filter(|i| *i > 0)
}
