// Detection builds many small strings (every nginx token); mimalloc makes that cheap and
// keeps the whole run within the benchmark's budget (README, Performance).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(dpwizard::main_with_args(std::env::args_os().collect()));
}
