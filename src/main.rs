use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    bound_retained_memory();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("starting the async runtime")
        .block_on(triaged::cli::run(triaged::cli::Cli::parse()))
}

/// Webhook bodies and stored payloads up to the body limit (1 MiB) are large allocations.
/// glibc raises its mmap threshold each time such a block is freed, after which blocks of
/// that size come from the heap and stay in the process once freed: RSS grew by ~50 MiB after
/// a few hundred near-limit bodies and never came back. A fixed threshold keeps every block
/// of 128 KiB or more in its own mapping, returned to the system when freed.
fn bound_retained_memory() {
    // SAFETY: mallopt only sets allocator parameters; it is called before any thread starts.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}
