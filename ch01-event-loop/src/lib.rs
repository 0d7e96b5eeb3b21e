#![doc = include_str!("../README.md")]

pub mod cli;
pub mod demos;
pub mod event_loop;
pub mod http;
pub mod observe;
