//! kefu's integration tests: one binary, each test with its own server and data dir.

mod admin;
mod api;
mod auth;
mod automation;
mod browser;
mod canned;
mod cli;
mod delivery;
mod hardening;
mod helpers;
mod inbox;
mod live;
mod operations;
mod requests;
mod settings;
mod strict;
mod webhook;
mod workspace;
mod workspace_ui;
