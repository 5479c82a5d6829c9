use super::*;
use serde_json::json;
use tokio_util::sync::CancellationToken;

fn ctx(
    root: &Path,
) -> (
    ToolContext,
    tokio::sync::mpsc::UnboundedReceiver<OutputChunk>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    (
        ToolContext {
            project_root: root.to_path_buf(),
            cancel: CancellationToken::new(),
            output: Some(tx),
            editor: None,
            sandbox: None,
        },
        rx,
    )
}

fn root() -> (tempfile::TempDir, std::path::PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let r = std::fs::canonicalize(d.path()).unwrap();
    (d, r)
}

#[test]
fn child_env_drops_secrets_and_daemon_only_variables() {
    let vars = [
        ("PATH", "/bin"),
        ("OPENAI_API_KEY", "sk"),
        ("GITHUB_TOKEN", "t"),
        ("LISTEN_FDS", "1"),
        ("HOME", "/h"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let names: Vec<String> = child_env(vars).into_iter().map(|(k, _)| k).collect();
    assert_eq!(names, ["PATH", "HOME"]);
}

#[test]
fn child_env_drops_every_secret_looking_name_and_every_daemon_setting() {
    for v in [
        "MY_TOKEN",
        "api_key_x",
        "KEYRING",
        "db_password",
        "Some_Secret",
        "OPENAI_MODEL",
        "AZURE_OPENAI_ENDPOINT",
        "ANTHROPIC_BASE_URL",
        "LOCAL_LLM_URL",
        "LLM_PROVIDER",
        "BOTSERVER_URL",
        "BOTCODER_SOCKET",
        "LISTEN_FDNAMES",
        "NOTIFY_SOCKET",
        "DBUS_SESSION_BUS_ADDRESS",
        "SSH_AUTH_SOCK",
    ] {
        assert!(!child_may_see(v), "{v}");
    }
    for v in [
        "PATH",
        "HOME",
        "LANG",
        "TERM",
        "CARGO_HOME",
        "RUSTFLAGS",
        "USER",
    ] {
        assert!(child_may_see(v), "{v}");
    }
}

#[tokio::test]
async fn a_refused_sandbox_refuses_the_command_and_says_why() {
    let (_d, r) = root();
    let (c, _rx) = ctx(&r);
    let policy = crate::tools::sandbox::Policy {
        mechanism: crate::tools::sandbox::Mechanism::Unavailable("install bubblewrap".into()),
        ..crate::tools::sandbox::Policy::off()
    };
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c").arg("touch ran");
    let out = run_in(&policy, cmd, &r, &c, DEFAULT_TIMEOUT, &[]).await;
    assert!(
        !out.ok && out.output.contains("install bubblewrap"),
        "{}",
        out.output
    );
    assert!(!r.join("ran").exists());
}

#[tokio::test]
async fn commands_get_a_private_tmpdir() {
    let (_d, r) = root();
    let (c, _rx) = ctx(&r);
    let out = execute_command(&r, &json!({"command": "echo \"$TMPDIR\""}), &c).await;
    assert!(
        out.ok && out.output.contains("botcoder-cmd-"),
        "{}",
        out.output
    );
}

#[tokio::test]
async fn runs_in_the_root_streams_output_and_reports_the_exit_code() {
    let (_d, r) = root();
    let (c, mut rx) = ctx(&r);
    let out = execute_command(&r, &json!({"command": "pwd; echo err >&2; exit 3"}), &c).await;
    assert!(!out.ok);
    assert_eq!(out.exit_code, Some(3));
    assert!(
        out.output.contains(&r.display().to_string()) && out.output.contains("err"),
        "{}",
        out.output
    );
    assert!(out.output.ends_with("[exit code 3]"));
    let mut streams = Vec::new();
    while let Ok(chunk) = rx.try_recv() {
        streams.push(chunk.stream);
    }
    assert!(
        streams.contains(&botcoder_protocol::OutputStream::Stdout)
            && streams.contains(&botcoder_protocol::OutputStream::Stderr),
        "{streams:?}"
    );
}

#[tokio::test]
async fn timeout_kills_the_whole_group_including_background_children() {
    let (_d, r) = root();
    let (c, _rx) = ctx(&r);
    let started = std::time::Instant::now();
    let out = execute_command(
        &r,
        &json!({"command": "sleep 30 & echo $! > bg.pid; sleep 30", "timeout_s": 1}),
        &c,
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        !out.ok && out.output.contains("timed out"),
        "{}",
        out.output
    );
    let pid = std::fs::read_to_string(r.join("bg.pid")).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).unwrap_or_default();
    assert!(
        status.is_empty() || status.contains("State:\tZ"),
        "background child still alive: {status}"
    );
}

#[tokio::test]
async fn cancellation_stops_a_command_promptly() {
    let (_d, r) = root();
    let (c, _rx) = ctx(&r);
    let token = c.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        token.cancel();
    });
    let started = std::time::Instant::now();
    let out = execute_command(&r, &json!({"command": "sleep 30"}), &c).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        !out.ok && out.output.contains("cancelled"),
        "{}",
        out.output
    );
}

#[tokio::test]
async fn output_floods_are_capped() {
    let (_d, r) = root();
    let (c, _rx) = ctx(&r);
    let out = execute_command(&r, &json!({"command": "yes | head -c 10000000"}), &c).await;
    assert!(
        out.ok,
        "{}",
        &out.output[out.output.len().saturating_sub(200)..]
    );
    assert!(out.truncated);
    assert!(out.output.len() < 100_000, "{}", out.output.len());
}
