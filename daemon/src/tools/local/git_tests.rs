use super::*;
use crate::tools::OutputChunk;
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
        },
        rx,
    )
}

fn root() -> (tempfile::TempDir, std::path::PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let r = std::fs::canonicalize(d.path()).unwrap();
    (d, r)
}

#[tokio::test]
async fn git_operations_and_their_risk() {
    let (_d, r) = root();
    let (c, _rx) = ctx(&r);
    let sh = |cmd: &str| {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .current_dir(&r)
            .output()
            .unwrap()
    };
    sh(
        "git init -q && git config user.email t@e.st && git config user.name T && echo a > f && git add f && git commit -qm first",
    );
    let status = git(&r, &json!({"op": "status", "args": ["--short"]}), &c).await;
    assert!(status.ok, "{}", status.output);
    std::fs::write(r.join("f"), "b\n").unwrap();
    let diff = git(&r, &json!({"op": "diff"}), &c).await;
    assert!(diff.output.contains("-a\n+b"), "{}", diff.output);
    let log = git(&r, &json!({"op": "log", "args": ["--oneline"]}), &c).await;
    assert!(log.output.contains("first"), "{}", log.output);
    let bad = git(&r, &json!({"op": "push"}), &c).await;
    assert!(!bad.ok && bad.output.contains("not offered"));
    for (args, risk) in [
        (json!({"op": "status"}), Risk::Read),
        (json!({"op": "commit", "args": ["-m", "x"]}), Risk::Write),
        (
            json!({"op": "commit", "args": ["--amend"]}),
            Risk::GitDiscard,
        ),
        (
            json!({"op": "checkout", "args": ["main"]}),
            Risk::GitDiscard,
        ),
        (
            json!({"op": "checkout", "args": ["-b", "new"]}),
            Risk::Write,
        ),
        (json!({"op": "stash"}), Risk::GitDiscard),
        (json!({"op": "stash", "args": ["list"]}), Risk::Read),
        (
            json!({"op": "branch", "args": ["-D", "x"]}),
            Risk::GitDiscard,
        ),
    ] {
        assert_eq!(git_risk(&args), risk, "{args}");
    }
}
