//! Readers and editors for config formats that keep every byte they do not change.
pub mod apache;
pub mod compose;
pub mod nginx;
pub mod systemd_unit;
