//! The WeChat protocol, with no database: signatures and AES (`crypto`), push bodies (`push`)
//! and building pushes the way WeChat's server does (`outbound_push`, used by `kefu simulate`
//! and the tests).

pub mod api;
pub mod crypto;
pub mod fake;
pub mod push;
pub mod reply;
pub mod simulate;

#[cfg(test)]
mod fuzz;
