//! The scheduler: decides when each Action's slots fire (`plan`, pure) and creates their runs
//! (`controller`, the Kubernetes side).

pub mod controller;
pub mod counting;
pub mod naming;
pub mod plan;
