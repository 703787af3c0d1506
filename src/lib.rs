//! dpwizard: makes a Drawpile server reachable from the browser client.
//!
//! The shape is a pure core between thin edges: `detect` reads the machine (through `host`)
//! into Facts; later stages turn Facts + Answers into a Plan, and only `apply` writes.

pub mod answers;
pub mod apply;
pub mod audit;
pub mod cli;
pub mod detect;
pub mod exit;
pub mod formats;
pub mod host;
pub mod manual;
pub mod model;
pub mod plan;
pub mod proxy;
pub mod schema_doc;
pub mod ui;
pub mod validate;
pub mod verify;
pub mod wizard;

pub use exit::Exit;

/// Runs dpwizard with the given command line; returns the process exit code.
pub fn main_with_args(args: Vec<std::ffi::OsString>) -> i32 {
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            let text = e.to_string();
            eprintln!(
                "dpwizard: {}",
                ui::terminal::safe(&text, &ui::style::Style::plain())
            );
            e.code()
        }
    }
}
