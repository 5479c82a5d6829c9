//! `botcoderd`: the daemon binary. Everything lives in the library; this only reads the
//! command line, hardens the process, sets up logging and the runtime, and reports a failure
//! to start.

use std::process::ExitCode;

use anyhow::Context;
use botcoder_config::paths;
use botcoder_daemon::config::Config;
use botcoder_daemon::hardening::{self, HardeningError};
use botcoder_daemon::{logging, server};
use clap::Parser;

/// The botcoder agent daemon: holds LLM provider connections and every session, and serves
/// clients (`botcoder`, the TUI) over a Unix socket. Usually started on demand by `botcoder`.
///
/// Configuration comes from `$XDG_CONFIG_HOME/botcoder/config.toml`, the `.env` beside it
/// and the environment: OPENAI_API_KEY / OPENAI_MODEL / OPENAI_BASE_URL, or LOCAL_LLM_URL /
/// LOCAL_LLM_MODEL, with LLM_PROVIDER to choose; each session adds its project's own
/// settings and its client's environment. config.toml is re-read when it changes or on
/// SIGHUP. BOTCODER_SOCKET sets the socket, BOTCODER_LOG the log filter.
/// Once started the daemon works from `/`: relative paths are resolved against the start
/// directory first.
#[derive(Debug, Parser)]
#[command(name = "botcoderd", version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("BOTCODER_GIT_REV"), ")"))]
struct Args {
    /// Detach from the terminal's session (used by clients that autostart the daemon).
    #[arg(long)]
    detach: bool,
}

/// jemalloc hands the pages of unloaded sessions back to the kernel by itself (one arena,
/// purging at once: `.cargo/config.toml`); glibc's allocator kept them, and only an
/// `unsafe` `malloc_trim` got them back (docs/PERFORMANCE.md, "The allocator").
#[cfg(all(target_os = "linux", not(target_env = "musl")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    // The per-command sandbox helper (`--sandbox-exec`) runs before anything else.
    if let Some(code) = botcoder_daemon::tools::sandbox::helper::dispatch() {
        return code;
    }
    let args = Args::parse();
    // Before any secret is read and before any thread exists: not dumpable, no core dumps,
    // room for connections. Failures are logged once logging is up.
    let (_, hardening_failed) = hardening::harden_process();
    // Before any thread exists: take over a socket passed by systemd.
    let inherited = botcoder_daemon::rpc::activation::inherited_listener();
    if args.detach {
        // Our own session: the terminal that started a client can close without taking us.
        let _ = rustix::process::setsid();
    }
    match run(inherited, hardening_failed) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("botcoderd: {e:#}");
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(
    inherited: Option<std::os::unix::net::UnixListener>,
    hardening_failed: Vec<HardeningError>,
) -> anyhow::Result<()> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| "/".into());
    // The user's layers; a `.env` in the start directory is not one of them (it would leak
    // one project's settings into every session).
    let layers = botcoder_config::Layers::load();
    let state_dir = hardening::absolute(&cwd, paths::state_dir());
    let (_guard, log_file) = logging::init(&state_dir, Some(layers.settings.log().as_str()));
    for failure in &hardening_failed {
        tracing::warn!("{failure}");
    }
    let opts = server::RunOptions {
        socket_path: hardening::absolute(&cwd, paths::socket_path()),
        data_dir: hardening::absolute(&cwd, paths::data_dir()),
        log_file,
        config: Config::of_layers(&layers),
        layers,
        inherited,
    };
    // Everything that depends on the start directory has been read.
    if let Err(e) = hardening::leave_cwd() {
        tracing::warn!("{e}");
    }
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(server::run(opts))?;
    Ok(())
}
