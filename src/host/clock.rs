//! The clock detection and audit read "now" from, so certificate-expiry logic is testable.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy)]
pub enum Clock {
    System,
    /// A fixed instant, seconds since the Unix epoch (tests, and `DPWIZARD_NOW`).
    Fixed(i64),
}

impl Clock {
    /// `DPWIZARD_NOW=<unix seconds>` pins the clock; used by tests that need stable expiry
    /// arithmetic. Anything else means the system clock.
    pub fn from_env() -> Clock {
        match std::env::var("DPWIZARD_NOW")
            .ok()
            .and_then(|v| v.trim().parse().ok())
        {
            Some(secs) => Clock::Fixed(secs),
            None => Clock::System,
        }
    }

    pub fn now_unix(&self) -> i64 {
        match self {
            Clock::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or(Duration::ZERO)
                .as_secs() as i64,
            Clock::Fixed(s) => *s,
        }
    }
}
