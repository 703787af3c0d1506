fn main() {
    std::process::exit(dpwizard::main_with_args(std::env::args_os().collect()));
}
