//! Placeholder; the detect benchmark lands with the nginx reader.
fn main() {
    // `cargo test --all-targets` runs harness=false benches as tests: only work under `cargo bench`.
    let _benching = std::env::args().any(|a| a == "--bench");
}
