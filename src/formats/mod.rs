//! Readers and editors for config formats that keep every byte they do not change.
pub mod compose;
pub mod compose_project;
pub mod nginx;
pub mod systemd_unit;
