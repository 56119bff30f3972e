//! SMTP: the client side (replies, commands, capabilities, the session)
//! and, for `-bs`, the server side (`server`, `dot_reader`).
//!
//! RFC 5321 (SMTP), RFC 3207 (STARTTLS), RFC 4954 (AUTH) with the XOAUTH2
//! mechanism as Microsoft and Google define it, RFC 2920 (PIPELINING),
//! RFC 1870 (SIZE), RFC 6152 (8BITMIME), RFC 3461 (DSN).

pub mod capabilities;
pub mod command;
pub mod dot_reader;
pub mod reply;
pub mod server;
pub mod session;
