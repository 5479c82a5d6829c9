#![allow(clippy::unwrap_used, clippy::expect_used)]

use pretty_assertions::assert_eq;
use serde_json::json;

use super::*;

fn call(name: &str, args: Value) -> ToolCall {
    ToolCall {
        id: "c".into(),
        name: name.into(),
        args,
    }
}

fn cmd(command: &str) -> Action {
    action(&call("execute_command", json!({ "command": command })))
}

fn words(w: &[&str]) -> Vec<String> {
    w.iter().map(|s| (*s).to_owned()).collect()
}

fn rules(allow: &[&str], deny: &[&str]) -> Rules {
    let own = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    Rules::new(&own(allow), &own(deny)).unwrap()
}

#[test]
fn simple_commands_become_argv_and_anything_else_stays_text() {
    assert_eq!(
        cmd("cargo test --release"),
        Action::Argv(words(&["cargo", "test", "--release"]))
    );
    assert_eq!(
        cmd("echo 'a b'  c"),
        Action::Argv(words(&["echo", "a b", "c"]))
    );
    for hostile in [
        "cargo test; rm -rf ~",
        "cargo test && rm -rf x",
        "cargo test || rm x",
        "cargo test | sh",
        "cargo test > /etc/passwd",
        "cargo test < x",
        "cargo test `rm x`",
        "cargo test $(rm x)",
        "cargo test $HOME",
        "cargo test\nrm x",
        "cargo test & rm x",
        "FOO=1 cargo test",
        "cargo test 'unclosed",
        "(rm x)",
    ] {
        assert_eq!(
            cmd(hostile),
            Action::Shell(hostile.trim().into()),
            "{hostile}"
        );
    }
}

#[test]
fn session_scope_is_program_and_subcommand_or_exactly_the_command() {
    let scope = |c: &str| scope_of(&cmd(c)).describe();
    assert_eq!(scope("cargo test --release"), "cargo test");
    assert_eq!(scope("npm run build -- --watch"), "npm run build");
    assert_eq!(scope("npm run"), "npm run (exactly)");
    assert_eq!(scope("cargo --version"), "cargo --version (exactly)");
    assert_eq!(scope("echo hi"), "echo hi (exactly)");
    assert_eq!(scope("rm -rf build"), "rm -rf build (exactly)");
    assert_eq!(scope("./cargo test"), "./cargo test (exactly)");
    assert_eq!(
        scope("cargo test; rm -rf ~"),
        "cargo test; rm -rf ~ (exactly)"
    );
    let git =
        |op: &str, args: Value| scope_of(&action(&call("git", json!({"op": op, "args": args}))));
    assert_eq!(git("stash", json!(["list"])).describe(), "git stash list");
    assert_eq!(git("stash", json!([])).describe(), "git stash (exactly)");
    assert_eq!(git("commit", json!(["-m", "x"])).describe(), "git commit");
    let write = |p: &str| {
        scope_of(&action(&call(
            "write_file",
            json!({"path": p, "content": ""}),
        )))
    };
    assert_eq!(write("./src//lib.rs").describe(), "src/lib.rs");
    assert_eq!(
        write("../x").describe(),
        r#"write_file {"path":"../x","content":""} (exactly)"#
    );
}

#[test]
fn a_session_grant_covers_what_was_shown_and_nothing_else() {
    let mut g = Grants::default();
    g.grant(scope_of(&cmd("cargo test")), Risk::Command);
    assert!(g.covers(&cmd("cargo test --release"), Risk::Command));
    assert!(!g.covers(&cmd("cargo testx"), Risk::Command));
    assert!(!g.covers(&cmd("cargo build"), Risk::Command));
    assert!(!g.covers(&cmd("rm -rf ~"), Risk::Command));
    assert!(!g.covers(&cmd("cargo test; rm -rf ~"), Risk::Command));

    g.grant(scope_of(&cmd("echo hi")), Risk::Command);
    assert!(g.covers(&cmd("echo  hi"), Risk::Command));
    assert!(!g.covers(&cmd("echo hi there"), Risk::Command));

    g.grant(scope_of(&cmd("make a && make b")), Risk::Command);
    assert!(g.covers(&cmd("make a && make b"), Risk::Command));
    assert!(!g.covers(&cmd("make a && make c"), Risk::Command));

    let write = |p: &str| action(&call("write_file", json!({"path": p, "content": ""})));
    g.grant(scope_of(&write("a/b.rs")), Risk::Write);
    assert!(g.covers(&write("./a/b.rs"), Risk::Write));
    assert!(!g.covers(&write("a/c.rs"), Risk::Write));
    let delta = |paths: &[&str]| {
        let text: String = paths
            .iter()
            .map(|p| format!("CHANGE: {p}\n<<<<<<< CURRENT\nx\n=======\ny\n>>>>>>> NEW\n"))
            .collect();
        action(&call("apply_delta", json!({ "text": text })))
    };
    assert_eq!(delta(&["a/b.rs"]), Action::Files(words(&["a/b.rs"])));
    assert!(g.covers(&delta(&["a/b.rs"]), Risk::Write));
    assert!(!g.covers(&delta(&["a/b.rs", "c.rs"]), Risk::Write));

    // The same scope at a higher risk is asked again.
    let git = |args: Value| action(&call("git", json!({"op": "checkout", "args": args})));
    g.grant(scope_of(&git(json!(["-b", "topic"]))), Risk::Write);
    assert!(g.covers(&git(json!(["-b", "other"])), Risk::Write));
    assert!(!g.covers(&git(json!(["."])), Risk::GitDiscard));
}

#[test]
fn rules_match_parsed_argv_prefixes_never_substrings() {
    let r = rules(&["cargo test", "git status"], &["rm", "git push"]);
    let allowed = |c: &str| r.allowing(&cmd(c)).map(|r| r.text.clone());
    assert_eq!(allowed("cargo test --release"), Some("cargo test".into()));
    assert_eq!(allowed("cargo  'test'"), Some("cargo test".into()));
    assert_eq!(allowed("cargo testx"), None);
    assert_eq!(allowed("cargo test; rm -rf ~"), None);
    assert_eq!(allowed("echo cargo test"), None);
    let git_status = action(&call("git", json!({"op": "status"})));
    assert_eq!(
        r.allowing(&git_status).map(|r| r.text.as_str()),
        Some("git status")
    );

    let denied = |a: &Action| r.denying(a).map(|r| r.text.clone());
    assert_eq!(denied(&cmd("rm -rf x")), Some("rm".into()));
    assert_eq!(denied(&cmd("rmdir x")), None);
    assert_eq!(denied(&cmd("echo rm")), None);
    assert_eq!(
        denied(&cmd("git push origin main")),
        Some("git push".into())
    );
    assert_eq!(denied(&cmd("git status")), None);
}

#[test]
fn deny_rules_look_through_compound_commands_and_wrappers() {
    let r = rules(&[], &["rm", "git push"]);
    for hostile in [
        "true; rm -rf x",
        "true && /bin/rm -rf x",
        "echo $(rm -rf x)",
        "echo `rm x`",
        "X=1 rm x",
        "sudo -u root rm x",
        "env A=1 rm x",
        "timeout 5 rm x",
        "sh -c 'rm -rf x'",
        "bash -lc \"echo; git push\"",
        "nohup sudo rm x",
        "{ rm x; }",
        "! rm x",
    ] {
        assert_eq!(
            r.denying(&cmd(hostile)).map(|r| r.text.as_str()),
            Some(if hostile.contains("git push") {
                "git push"
            } else {
                "rm"
            }),
            "{hostile}"
        );
    }
    assert!(r.denying(&cmd("cargo test && echo done")).is_none());
    // A long chain of wrappers is judged in linear time.
    let chain = format!("{}rm x", "sudo ".repeat(20_000));
    assert!(r.denying(&cmd(&chain)).is_some());
}

#[test]
fn a_rule_must_be_a_simple_command() {
    for bad in ["", "  ", "rm; ls", "FOO=1 make", "echo $HOME", "a | b"] {
        assert!(Rule::parse(bad).is_err(), "{bad:?}");
    }
    assert_eq!(Rule::parse(" git push ").unwrap().text, "git push");
}

#[test]
fn grants_are_bounded() {
    let mut g = Grants::default();
    for i in 0..MAX_GRANTS {
        assert!(g.grant(Scope::Files(vec![format!("f{i}")]), Risk::Write));
    }
    assert!(!g.grant(Scope::Files(vec!["one-more".into()]), Risk::Write));
    assert!(
        g.grant(Scope::Files(vec!["f0".into()]), Risk::Write),
        "already held"
    );
}
