//! The `fwxdp` command; everything it does is in the library's [`fwxdp::cli`].
#![expect(
    unused_crate_dependencies,
    reason = "a thin entry point: the library uses the package's dependencies"
)]

fn main() -> std::process::ExitCode {
    fwxdp::cli::main()
}
