//! Spawning the real binaries against temp directories and a temp socket.
//!
//! Every test gets its own [`TestEnv`]: a temp root holding the socket, XDG data/state/config
//! dirs, a HOME and a project directory. Child processes get a cleared environment with only
//! those paths plus what the test sets, so nothing touches the real user's files and no
//! stray provider key leaks in. Autostart is off unless a test turns it on.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use botcoder_protocol::client::{ConnectOptions, DaemonClient};

use crate::mock_llm::MockLlm;

/// Path of a workspace binary (`botcoderd`, `botcoder`, `mock-llm`) next to the test binary.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the binaries first with `cargo build --workspace --bins`",
        path.display()
    );
    path
}

/// Output of one CLI run.
#[derive(Debug, Clone)]
pub struct CliOutput {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Stdout.
    pub stdout: String,
    /// Stderr.
    pub stderr: String,
}

impl CliOutput {
    /// The session id `botcoder ask` reported on stderr (`botcoder: session <id>`).
    pub fn session_id(&self) -> String {
        self.stderr
            .lines()
            .find_map(|l| l.strip_prefix("botcoder: session "))
            .unwrap_or_else(|| panic!("no session id on stderr: {}", self.stderr))
            .to_owned()
    }

    /// Stdout parsed as JSON lines.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }

    /// `(kind, message)` of the error of the `turn.completed` that `botcoder ask --json`
    /// printed last (empty strings when it has none).
    pub fn last_error(&self) -> (String, String) {
        let last = self
            .json_lines()
            .pop()
            .unwrap_or_else(|| panic!("no events on stdout; stderr: {}", self.stderr));
        assert_eq!(last["type"], "turn.completed", "{}", self.stdout);
        let field = |name: &str| last["error"][name].as_str().unwrap_or_default().to_owned();
        (field("kind"), field("message"))
    }
}

/// One test's private world.
#[derive(Debug)]
pub struct TestEnv {
    root: tempfile::TempDir,
    /// The daemon socket.
    pub socket: PathBuf,
    /// A project directory for sessions.
    pub project: PathBuf,
    env: Vec<(String, String)>,
}

impl Default for TestEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl TestEnv {
    /// Fresh temp dirs; autostart off.
    pub fn new() -> TestEnv {
        let root = tempfile::Builder::new()
            .prefix("botcoder-test")
            .tempdir()
            .unwrap_or_else(|e| panic!("tempdir: {e}"));
        let r = root.path().to_path_buf();
        for d in ["home", "data", "state", "config", "project", "cwd"] {
            std::fs::create_dir_all(r.join(d)).unwrap_or_else(|e| panic!("mkdir {d}: {e}"));
        }
        let socket = r.join("run").join("botcoderd.sock");
        let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".to_owned());
        let env = vec![
            ("PATH".to_owned(), path),
            ("HOME".to_owned(), r.join("home").display().to_string()),
            (
                "XDG_DATA_HOME".to_owned(),
                r.join("data").display().to_string(),
            ),
            (
                "XDG_STATE_HOME".to_owned(),
                r.join("state").display().to_string(),
            ),
            (
                "XDG_CONFIG_HOME".to_owned(),
                r.join("config").display().to_string(),
            ),
            (
                "XDG_RUNTIME_DIR".to_owned(),
                r.join("xdg-runtime").display().to_string(),
            ),
            ("BOTCODER_SOCKET".to_owned(), socket.display().to_string()),
            ("BOTCODER_NO_AUTOSTART".to_owned(), "1".to_owned()),
            ("BOTCODER_LOG".to_owned(), "info".to_owned()),
        ];
        TestEnv {
            project: r.join("project"),
            root,
            socket,
            env,
        }
    }

    /// Sets a variable for every process this env starts.
    pub fn set(&mut self, key: &str, value: &str) -> &mut Self {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Removes a variable.
    pub fn unset(&mut self, key: &str) -> &mut Self {
        self.env.retain(|(k, _)| k != key);
        self
    }

    /// Points the daemon at a mock OpenAI-compatible server as the `local` provider.
    pub fn use_mock(&mut self, mock: &MockLlm) -> &mut Self {
        self.set("LLM_PROVIDER", "local")
            .set("LOCAL_LLM_URL", &mock.base_url())
            .set("LOCAL_LLM_MODEL", crate::mock_llm::MODEL)
    }

    /// Points the daemon at `mock` as an Anthropic Messages provider with `key`.
    pub fn use_anthropic_mock(&mut self, mock: &MockLlm, key: &str) -> &mut Self {
        self.set("LLM_PROVIDER", "anthropic")
            .set("ANTHROPIC_API_KEY", key)
            .set("ANTHROPIC_BASE_URL", &format!("http://{}", mock.addr()))
    }

    /// Points the daemon at the mock botserver at `url` (probed every 100 ms), with `llm` as
    /// the local provider it falls back to.
    pub fn use_botserver_mock(&mut self, url: &str, llm: &MockLlm) -> &mut Self {
        self.set("LLM_PROVIDER", "botserver")
            .set("BOTSERVER_URL", url)
            .set("BOTSERVER_PROBE_INTERVAL_MS", "100")
            .set("LOCAL_LLM_URL", &llm.base_url())
            .set("LOCAL_LLM_MODEL", "m")
    }

    /// The project directory as a `--project` argument or `project_path`.
    pub fn project_arg(&self) -> String {
        self.project.display().to_string()
    }

    /// The temp root.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// Writes the user's `config.toml` (`$XDG_CONFIG_HOME/botcoder/config.toml`).
    pub fn write_config(&self, text: &str) {
        let dir = self.root().join("config").join("botcoder");
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        std::fs::write(dir.join("config.toml"), text)
            .unwrap_or_else(|e| panic!("config.toml: {e}"));
    }

    /// Where journals live.
    pub fn sessions_dir(&self) -> PathBuf {
        self.root().join("data").join("botcoder").join("sessions")
    }

    /// The daemon's log file.
    pub fn log_file(&self) -> PathBuf {
        self.root()
            .join("state")
            .join("botcoder")
            .join("botcoderd.log")
    }

    /// A command for any program with this env (cleared environment plus the test's).
    pub fn command(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        c.env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(self.root().join("cwd"));
        // The allocator's run-time options, for comparing them in the benches
        // (docs/PERFORMANCE.md, "The allocator").
        for var in ["_RJEM_MALLOC_CONF", "GLIBC_TUNABLES"] {
            if let Some(value) = std::env::var_os(var) {
                c.env(var, value);
            }
        }
        c
    }

    /// Wraps a child the test started itself (e.g. through a shell) as a daemon.
    pub fn adopt(&self, child: Child) -> DaemonProcess {
        DaemonProcess { child: Some(child) }
    }

    /// Starts `botcoderd` in the foreground and waits until it answers.
    pub fn start_daemon(&self) -> DaemonProcess {
        let child = self
            .command(&bin("botcoderd"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn botcoderd: {e}"));
        let d = DaemonProcess { child: Some(child) };
        self.wait_for_socket(Duration::from_secs(10));
        d
    }

    /// Waits until something accepts connections on the socket.
    pub fn wait_for_socket(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if std::os::unix::net::UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!(
            "botcoderd did not answer on {} within {timeout:?}",
            self.socket.display()
        );
    }

    /// A `botcoder` command with this env.
    pub fn cli(&self, args: &[&str]) -> Command {
        let mut c = self.command(&bin("botcoder"));
        c.args(args);
        c
    }

    /// Runs `botcoder` to completion (bounded by `timeout`), feeding `stdin`.
    pub async fn run_cli(&self, args: &[&str], stdin: Option<&str>) -> CliOutput {
        self.run_cli_timeout(args, stdin, Duration::from_secs(30))
            .await
    }

    /// `botcoder ask <flags> --project <the project> <prompt>`, the one-shot most suites run.
    pub async fn ask(&self, flags: &[&str], prompt: &str) -> CliOutput {
        let project = self.project_arg();
        let mut args = vec!["ask"];
        args.extend_from_slice(flags);
        args.extend(["--project", &project, prompt]);
        self.run_cli(&args, None).await
    }

    /// [`TestEnv::run_cli`] with an explicit bound.
    pub async fn run_cli_timeout(
        &self,
        args: &[&str],
        stdin: Option<&str>,
        timeout: Duration,
    ) -> CliOutput {
        let mut cmd = tokio::process::Command::from(self.cli(args));
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn botcoder: {e}"));
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            use tokio::io::AsyncWriteExt;
            pipe.write_all(text.as_bytes())
                .await
                .unwrap_or_else(|e| panic!("stdin: {e}"));
        }
        let out = tokio::time::timeout(timeout, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("botcoder {args:?} did not finish within {timeout:?}"))
            .unwrap_or_else(|e| panic!("botcoder {args:?}: {e}"));
        CliOutput {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// A protocol client named `name` (no autostart).
    pub async fn client(&self, name: &str) -> DaemonClient {
        let opts = ConnectOptions {
            socket_path: self.socket.clone(),
            client_name: name.to_owned(),
            capabilities: Vec::new(),
            autostart: false,
        };
        DaemonClient::connect(&opts)
            .await
            .unwrap_or_else(|e| panic!("connect: {e}"))
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        // An autostarted daemon is not our child: stop it so no test leaves one behind.
        if std::os::unix::net::UnixStream::connect(&self.socket).is_ok() {
            let _ = self
                .cli(&["daemon", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// A daemon started by a test; killed when dropped.
#[derive(Debug)]
pub struct DaemonProcess {
    child: Option<Child>,
}

impl DaemonProcess {
    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// `kill -9` and reap.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends a signal.
    pub fn signal(&self, sig: rustix::process::Signal) {
        if let Some(pid) = self
            .child
            .as_ref()
            .and_then(|c| rustix::process::Pid::from_raw(c.id() as i32))
        {
            let _ = rustix::process::kill_process(pid, sig);
        }
    }

    /// Waits for the process to exit; returns its exit code and stderr.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<(i32, String)> {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut()?;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut err);
                }
                self.child = None;
                return Some((status.code().unwrap_or(-1), err));
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Fails the test unless `available`: it needs `what`, something `.ci/run` installs or CI
/// has (root, setpriv, tmux, bwrap, the MCP reference server). No test passes by skipping
/// itself; one that is opt-in says so with `#[ignore = "why"]`.
pub fn require(what: &str, available: bool) {
    if !available {
        missing(what);
    }
}

/// The failure of a test that needs `what` and did not find it (see [`require`]).
pub fn missing(what: &str) -> ! {
    panic!(
        "this test needs {what}, which is missing here: run .ci/run (it installs what the \
         tests need), or leave these tests out with nextest's `-E 'not test(...)'`"
    )
}

/// Whether the tests run as root with `setpriv`, to switch a child to `nobody`.
pub fn can_become_nobody() -> bool {
    rustix::process::geteuid().is_root() && Path::new("/usr/bin/setpriv").exists()
}

/// Whether `tmux` runs.
pub fn has_tmux() -> bool {
    Command::new("tmux").arg("-V").output().is_ok()
}

/// The setup most suites share: a mock OpenAI-compatible provider answering `done` by
/// default, a [`TestEnv`] pointed at it with `vars` set, and the daemon started.
pub async fn daemon_with_mock(vars: &[(&str, &str)]) -> (TestEnv, MockLlm, DaemonProcess) {
    let (env, mock) = env_with_mock(vars).await;
    let daemon = env.start_daemon();
    (env, mock, daemon)
}

/// [`daemon_with_mock`] without starting the daemon (for tests that write files first or
/// start it their own way).
pub async fn env_with_mock(vars: &[(&str, &str)]) -> (TestEnv, MockLlm) {
    let mock = MockLlm::start()
        .await
        .unwrap_or_else(|e| panic!("mock provider: {e}"));
    mock.set_default(crate::mock_llm::MockResponse::text("done"));
    let mut env = TestEnv::new();
    env.use_mock(&mock);
    for (k, v) in vars {
        env.set(k, v);
    }
    (env, mock)
}
