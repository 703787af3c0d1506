//! Everything that knows a terminal or a reader exists: text reports and styling.

pub mod progress;
pub mod report;
pub mod shell;
pub mod style;
pub mod terminal;
