//! kefu (客服): a self-hosted helpdesk for WeChat Mini Program customer service.
//!
//! The crate is the whole product; `main.rs` only launches it. Modules mirror the product:
//! the WeChat protocol, the store, the ingest path of a push, and the web surface.
#![forbid(unsafe_code)]

pub mod app;
pub mod automation;
pub mod channels;
pub mod cli;
pub mod config;
pub mod delivery;
pub mod demo;
pub mod doctor;
pub mod domain;
pub mod error;
#[cfg(test)]
mod fuzzing;
pub mod i18n;
pub mod ingest;
pub mod live;
pub mod search;
pub mod secrets;
pub mod services;
pub mod store;
pub mod web;
pub mod wechat;
pub mod writer;
