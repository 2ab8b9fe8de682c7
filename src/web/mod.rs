//! The HTTP surface, one file per area; each exports its own `router()` and `app.rs` merges
//! them.

pub mod admin;
pub mod api;
pub mod assets;
pub mod auth;
pub mod canned;
pub mod demo;
pub mod health;
pub mod home;
pub mod inbox;
pub mod live_render;
pub mod pages;
pub mod rules;
pub mod settings;
pub mod views;
pub mod webhook;
pub mod ws;
