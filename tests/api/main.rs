//! kefu's integration tests: one binary, each test with its own server and data dir.

mod admin;
mod api;
mod auth;
mod automation;
mod browser;
mod canned;
mod channels;
mod cli;
mod console;
mod delivery;
mod first_run;
mod hardening;
mod helpers;
mod inbox;
mod list;
mod live;
mod official;
mod operations;
mod requests;
mod search;
mod sending;
mod settings;
mod strict;
mod webhook;
mod workspace;
mod workspace_ui;
