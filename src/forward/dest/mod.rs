//! The built-in destinations, one module each.

pub(crate) mod file;
#[cfg(feature = "nats")]
pub(crate) mod nats;
pub(crate) mod syslog;
#[cfg(feature = "webhook")]
pub(crate) mod webhook;
