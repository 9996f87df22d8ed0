//! # webmessaging
//!
//! HTML web messaging as an Actix actor runtime. Work in progress.
#![deny(missing_docs)]

pub use webmessaging_core as core;
