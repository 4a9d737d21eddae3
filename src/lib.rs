//! Punctual: scheduled and on-demand agent actions on Kubernetes.
//!
//! Layout: `resources` holds the custom resource types, `rest` the REST view of them.
#![forbid(unsafe_code)]

pub mod resources;
pub mod rest;
