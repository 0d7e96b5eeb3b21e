//! Section 1.6, one module per demo, in the order of the notes.

pub mod blocking;
pub mod busy_poll;
pub mod echo_server;
pub mod readiness;
pub mod serve;
