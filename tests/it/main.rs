//! CLI and end-to-end tests. One test binary (fewer links, faster CI); each area is a module.
//! Fake machines are built by `support::FakeMachine`, never copied trees.

mod support;

mod answers;
mod apply;
mod audit;
mod cli;
mod docker;
mod drawpile;
mod fuzz;
mod hostnet;
mod live_apply;
mod live_systemd;
mod nginx;
mod os;
mod plan_nginx_live;
mod plan_units;
pub mod readonly;
mod safety;
mod schema;
mod standin;
mod systemd;
mod wizard;
