//! The environment every git call of the tool runs in, so that nothing a model or a project
//! can write (`.git/config`, files it includes, `.gitattributes`, `.git/hooks`, a `.git`
//! file pointing elsewhere) makes git run a program, write outside the project or read
//! another repository.
//!
//! Settings go in as command-scope config through `GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_n`/
//! `GIT_CONFIG_VALUE_n` — the same precedence as `git -c`, above every config file, but
//! with no `key=value` parsing, so a driver name containing `=` or spaces is overridden
//! as exactly as any other. The user's global config stays (their identity for commits,
//! their own filter drivers such as git-lfs); what the repository's own config (local and
//! worktree scope, includes resolved) names as a program is overridden to nothing. The
//! repository is pinned (`GIT_DIR`, `GIT_WORK_TREE`) to the one checked here.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

/// Settings that hold for every call, whatever the config files say.
const FIXED: &[(&str, &str)] = &[
    ("core.fsmonitor", "false"),
    // Hooks would be looked up under /dev/null/: nothing is ever there, and nobody can
    // put anything there (an empty directory of ours could be filled).
    ("core.hooksPath", "/dev/null"),
    ("core.pager", "cat"),
    ("core.editor", "false"),
    ("sequence.editor", "false"),
    ("core.sshCommand", "false"),
    ("core.askPass", ""),
    ("credential.helper", ""),
    ("protocol.allow", "never"),
    ("diff.external", ""),
    ("log.showSignature", "false"),
    ("submodule.recurse", "false"),
    // Submodules have config of their own that is never scanned: git must not run in them.
    ("diff.ignoreSubmodules", "all"),
    ("status.submoduleSummary", "false"),
    ("gc.auto", "0"),
    ("maintenance.auto", "false"),
    ("color.ui", "false"),
    ("safe.bareRepository", "explicit"),
];

/// Environment for every git process.
const ENV: &[(&str, &str)] = &[
    ("GIT_CONFIG_NOSYSTEM", "1"),
    ("GIT_CONFIG_PARAMETERS", ""),
    ("GIT_TERMINAL_PROMPT", "0"),
    ("GIT_PAGER", "cat"),
    ("PAGER", "cat"),
    ("GIT_EDITOR", "false"),
    ("GIT_SEQUENCE_EDITOR", "false"),
    ("GIT_EXTERNAL_DIFF", ""),
    ("GIT_ASKPASS", ""),
    ("SSH_ASKPASS", ""),
    ("GIT_SSH_COMMAND", "false"),
    // An empty list: no transport at all, whatever `protocol.<name>.allow` a repo sets.
    ("GIT_ALLOW_PROTOCOL", ""),
    ("GIT_PROTOCOL_FROM_USER", "0"),
    // A partial clone would fetch missing objects from a remote the repo names.
    ("GIT_NO_LAZY_FETCH", "1"),
    // `status` does not rewrite the index: a read stays a read.
    ("GIT_OPTIONAL_LOCKS", "0"),
];

/// Keys of the repository's config that name programs (or files to read), as an ERE for
/// `git config --get-regexp`; keys come back with section and variable lowercased.
const PROGRAM_KEYS: &str = r"^(filter\..+\.(clean|smudge|process)|merge\..+\.driver|diff\..+\.(command|textconv)|gpg\.(.+\.)?program|gpg\.ssh\.defaultkeycommand|mailmap\.(file|blob)|(commit|tag)\.gpgsign|core\.worktree)$";

const HELPER_TIMEOUT: Duration = Duration::from_secs(10);
/// Most config output read while scanning, and most settings overridden.
const SCAN_CAP: usize = 1024 * 1024;
const MAX_OVERRIDES: usize = 512;

/// The variables of the daemon's environment that reach git: secrets and git's own
/// variables removed (a `GIT_DIR` or `GIT_CONFIG_*` of the daemon must not redirect the
/// checks below).
fn base_env() -> Vec<(String, String)> {
    super::super::command::child_env(std::env::vars())
        .into_iter()
        .filter(|(k, _)| !k.starts_with("GIT_"))
        .collect()
}

fn with_config(
    mut env: Vec<(String, String)>,
    config: &[(String, String)],
) -> Vec<(String, String)> {
    env.extend(ENV.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    env.push(("GIT_CONFIG_COUNT".to_owned(), config.len().to_string()));
    for (i, (k, v)) in config.iter().enumerate() {
        env.push((format!("GIT_CONFIG_KEY_{i}"), k.clone()));
        env.push((format!("GIT_CONFIG_VALUE_{i}"), v.clone()));
    }
    env
}

fn fixed() -> Vec<(String, String)> {
    FIXED
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The same hardened environment with no repository pinned, plus `extra` command-scope
/// settings: for the snapshot shadow repositories (`crate::snapshot`), which pin their own.
pub(crate) fn fixed_env(extra: &[(String, String)]) -> Vec<(String, String)> {
    let mut config = fixed();
    config.extend_from_slice(extra);
    with_config(base_env(), &config)
}

/// Runs a helper git with `env` in `root`; returns (exit code, stdout, stderr).
async fn helper(
    root: &Path,
    env: &[(String, String)],
    args: &[&str],
) -> Result<(Option<i32>, Vec<u8>, String), String> {
    let mut cmd = tokio::process::Command::new("git");
    cmd.args(args)
        .current_dir(root)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start git: {e} (is git installed?)"))?;
    let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
        return Err("cannot capture git's output".to_owned());
    };
    let work = async {
        let (mut o, mut e) = (Vec::new(), Vec::new());
        let (mut out, mut err) = (out.take(SCAN_CAP as u64 + 1), err.take(16 * 1024));
        let (ro, re) = tokio::join!(out.read_to_end(&mut o), err.read_to_end(&mut e));
        ro.and(re)
            .map_err(|e| format!("reading git's output: {e}"))?;
        if o.len() > SCAN_CAP {
            return Err("the repository's config is too large to check".to_owned());
        }
        let status = child
            .wait()
            .await
            .map_err(|e| format!("waiting for git: {e}"))?;
        Ok((
            status.code(),
            o,
            String::from_utf8_lossy(&e).trim().to_owned(),
        ))
    };
    tokio::time::timeout(HELPER_TIMEOUT, work)
        .await
        .map_err(|_| "git did not answer within 10 s while checking the repository".to_owned())?
}

/// The repository's config entries that name programs: `(scope, key)`.
fn parse_scan(out: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(out);
    let mut fields = text.split('\0');
    let mut found = Vec::new();
    while let (Some(scope), Some(entry)) = (fields.next(), fields.next()) {
        let key = entry.split_once('\n').map_or(entry, |(k, _)| k);
        found.push((scope.to_owned(), key.to_owned()));
    }
    found
}

/// Overrides that make one program-naming key of the repository's config inert.
fn neutralise(key: &str, out: &mut Vec<(String, String)>) {
    let last = key.rsplit('.').next().unwrap_or_default();
    let prefix = key.rsplit_once('.').map_or("", |(p, _)| p);
    let (k, v) = (key.to_owned(), |v: &str| v.to_owned());
    match (key.split('.').next().unwrap_or_default(), last) {
        ("filter", _) => {
            out.push((k, v("")));
            out.push((format!("{prefix}.required"), v("false")));
        }
        // A merge driver that fails leaves a conflict for the person to resolve.
        ("merge", _) => out.push((k, v("false"))),
        ("gpg", _) => out.push((k, v("false"))),
        (_, "gpgsign") => out.push((k, v("false"))),
        _ => out.push((k, v(""))),
    }
}

fn is_inside(path: &Path, root: &Path) -> bool {
    path.starts_with(root)
}

/// Checks the repository of `root` and returns the environment a git call there runs in.
pub async fn prepare(root: &Path) -> Result<Vec<(String, String)>, String> {
    let root = tokio::fs::canonicalize(root)
        .await
        .map_err(|e| format!("cannot resolve the project root: {e}"))?;
    let probe_env = with_config(base_env(), &fixed());
    let (code, out, err) = helper(
        &root,
        &probe_env,
        &["rev-parse", "--show-toplevel", "--absolute-git-dir"],
    )
    .await?;
    if code != Some(0) {
        return Err(format!(
            "git cannot be used here: the project is not (the top of) a usable git work tree ({err})"
        ));
    }
    let text = String::from_utf8_lossy(&out);
    let mut lines = text.lines();
    let (Some(top), Some(gitdir)) = (lines.next(), lines.next()) else {
        return Err("git rev-parse gave no work tree".to_owned());
    };
    let top = canonical(top).await?;
    let gitdir = canonical(gitdir).await?;
    if top != root {
        return Err(format!(
            "git runs only at the top of a work tree, and this project is not: git's work tree is {} \
             (a core.worktree setting or an enclosing repository); open the session at the work tree's top",
            top.display()
        ));
    }
    let mut pinned = base_env();
    pinned.push(("GIT_DIR".to_owned(), gitdir.display().to_string()));
    pinned.push(("GIT_WORK_TREE".to_owned(), root.display().to_string()));
    pinned.push((
        "GIT_INDEX_FILE".to_owned(),
        gitdir.join("index").display().to_string(),
    ));
    let scan_env = with_config(pinned.clone(), &fixed());
    let (code, out, err) = helper(
        &root,
        &scan_env,
        &["config", "--show-scope", "-z", "--get-regexp", PROGRAM_KEYS],
    )
    .await?;
    // Exit 1: no key matched.
    if code != Some(0) && code != Some(1) {
        return Err(format!("git cannot read the repository's config: {err}"));
    }
    let mut config = fixed();
    let mut worktree_set = false;
    for (scope, key) in parse_scan(&out) {
        if scope == "global" {
            continue; // the user's own settings
        }
        if key == "core.worktree" {
            worktree_set = true;
            continue;
        }
        neutralise(&key, &mut config);
        if config.len() > FIXED.len() + MAX_OVERRIDES {
            return Err("the repository's config names too many programs to neutralise".to_owned());
        }
    }
    if !is_inside(&gitdir, &root) && !worktree_set && !linked_worktree_of(&gitdir, &root).await {
        return Err(format!(
            "the project's .git points at a repository outside the project ({}) that is neither a \
             linked worktree nor a submodule of it; refusing to read it",
            gitdir.display()
        ));
    }
    Ok(with_config(pinned, &config))
}

async fn canonical(path: &str) -> Result<PathBuf, String> {
    tokio::fs::canonicalize(path)
        .await
        .map_err(|e| format!("cannot resolve {path}: {e}"))
}

/// A linked worktree's git dir names the `.git` file that points at it.
async fn linked_worktree_of(gitdir: &Path, root: &Path) -> bool {
    let Ok(back) = tokio::fs::read_to_string(gitdir.join("gitdir")).await else {
        return false;
    };
    let (Ok(back), Ok(ours)) = (
        tokio::fs::canonicalize(back.trim()).await,
        tokio::fs::canonicalize(root.join(".git")).await,
    ) else {
        return false;
    };
    back == ours
}
