//! CLI and end-to-end tests. One test binary (fewer links, faster CI); each area is a module.
//! Fake machines are built by `support::FakeMachine`, never copied trees.

mod support;

mod ansible;
mod answers;
mod apache_context;
mod apply;
mod audit;
mod audit_fronts;
mod cli;
mod compose;
mod compose_live;
mod deb;
mod docker;
mod drawpile;
mod examples;
mod fixable;
mod fuzz;
mod history;
mod hostnet;
mod live_apply;
mod live_drawpile;
mod live_fronts;
mod live_systemd;
mod live_truth;
mod manual;
mod metrics;
mod nginx;
mod os;
mod pasteable;
mod plan_apache_live;
mod plan_caddy_live;
mod plan_compose;
mod plan_fronts;
mod plan_nginx_live;
mod plan_units;
pub mod readonly;
mod release;
mod safety;
mod schema;
mod standin;
mod systemd;
mod web_client;
mod web_client_live;
mod wizard;
