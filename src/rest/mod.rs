//! The REST facade's view of the resources (snake_case, as the API reference has it).

pub mod model;

pub use model::{ActionView, RunView};
