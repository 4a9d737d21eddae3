//! The Action controller: decides when each Action's slots fire (`plan`, pure), counts finished
//! runs exactly once (`counting`, pure), and applies both through the API server (`controller`),
//! as the only writer of the Action status.

mod conditions;
pub mod controller;
pub mod counting;
pub mod plan;
pub mod timing;
