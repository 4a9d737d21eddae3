//! End-to-end tests against a real control plane (etcd, kube-apiserver,
//! kube-controller-manager). Run them with `make e2e`; each test uses its own namespace.

mod agent_runs;
mod chart;
mod delivery;
mod endpoint_faults;
mod facade;
mod foundation;
mod leader;
mod runner;
mod scheduler;
mod support;
mod traces;
mod ui;
