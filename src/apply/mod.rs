//! The only code that changes the machine: atomic writes (`fs`), the run journal with
//! backups and rollback (`journal`). Everything it writes was computed by `plan` first.

pub mod fs;
pub mod journal;
