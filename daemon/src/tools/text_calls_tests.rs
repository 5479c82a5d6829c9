use super::*;
use pretty_assertions::assert_eq;
use proptest::prelude::*;
use serde_json::json;

const TOOLS: &[&str] = &[
    "read_file",
    "list_files",
    "search",
    "execute_command",
    "write_file",
];

fn s(x: &str) -> TextArg {
    TextArg::Str(x.into())
}

fn names(calls: &[TextCall]) -> Vec<(&str, usize)> {
    calls.iter().map(|c| (c.name.as_str(), c.line)).collect()
}

#[test]
fn calls_on_lines_of_their_own_and_nothing_else() {
    let text = "Let me look.\nread_file(\"src/main.rs\")\nI will also run `execute_command('cargo test')` now.\n- list_files()\n  * search(\"x\");\n";
    let calls = parse_calls(text, TOOLS);
    assert_eq!(
        names(&calls),
        [("read_file", 2), ("list_files", 4), ("search", 5)]
    );
    assert_eq!(calls[0].args, vec![s("src/main.rs")]);
}

/// Regression (issue 11): a call quoted in prose was run. Backticks, quotes, block
/// quotes and code fences all quote a call; none of them runs it.
#[test]
fn quoted_calls_are_not_calls() {
    let text = concat!(
        "`execute_command(\"rm -rf ~\")`\n",
        "Do not run `git(\"log\", \"--output=/root/.bashrc\")` please.\n",
        "\"read_file(\"secret\")\"\n",
        "'read_file(\"secret\")'\n",
        "> execute_command(\"quoted\")\n",
        "```\nexecute_command(\"in a fence\")\n```\n",
        "~~~~sh\nexecute_command(\"tilde fence\")\n~~~\nstill fenced: execute_command(\"x\")\nexecute_command(\"x\")\n~~~~\n",
        "```inline``` then\n",
        "read_file(\"after the fences\")\n",
        "read_file(\"a\") and prose after it\n",
    );
    let calls = parse_calls(text, TOOLS);
    assert_eq!(names(&calls), [("read_file", 16)]);
    assert_eq!(calls[0].args, vec![s("after the fences")]);
}

#[test]
fn a_triple_quoted_body_may_hold_fences_and_calls() {
    let text = "write_file(\"README.md\", \"\"\"\n# x\n```\nread_file(\"inner\")\n```\n\"\"\")\nlist_files()\n";
    let calls = parse_calls(text, TOOLS);
    assert_eq!(names(&calls), [("write_file", 1), ("list_files", 7)]);
    assert_eq!(calls[0].args[1], s("# x\n```\nread_file(\"inner\")\n```\n"));
}

/// Regression (issue 12): replies of 60k-80k call-like lines froze the daemon; the parser
/// was quadratic. Each input here is 80k lines; linear parsing takes well under a second
/// unoptimised (about 0.3 s on a loaded 2-core machine), quadratic parsing takes minutes,
/// so the bound below is loose enough for a busy CI and still catches a regression.
#[test]
fn large_inputs_parse_in_linear_time() {
    let n = 80_000;
    let inputs = [
        "read_file(\"x\")\n".repeat(n),
        "read_file(\"\"\"\n".repeat(n),
        "write_file(\"a\", '''\n".repeat(n),
        "read_file(\n".repeat(n),
        "prose read_file(\"x\") more prose search(\n".repeat(n),
        "`read_file(\"x\")`\n".repeat(n),
        "```\n".repeat(n),
        "read_file(1,\n".repeat(n),
        format!("read_file(\"\"\"{}", "x\n".repeat(n)),
        format!("{}\"\"\")\n", "read_file(\"\"\"\n".repeat(n)),
        "CHANGE: a.txt\n".repeat(n),
    ];
    for (i, text) in inputs.iter().enumerate() {
        let started = std::time::Instant::now();
        let calls = parse_calls(text, TOOLS);
        let took = started.elapsed();
        assert!(
            took < std::time::Duration::from_secs(5),
            "input {i} took {took:?}"
        );
        if i == 0 {
            assert_eq!(calls.len(), n);
            assert_eq!(calls[n - 1].line, n);
        }
    }
}

#[test]
fn escapes_triple_quotes_and_kwargs() {
    let text = "write_file(\"a.txt\", \"\"\"\nline 1\nline \"2\"\n\"\"\")\nexecute_command(\"echo \\\"hi\\\"\\n\", timeout_s=5)\nsearch('x', path=\"src\", glob='*.rs')";
    let calls = parse_calls(text, TOOLS);
    assert_eq!(calls[0].args, vec![s("a.txt"), s("line 1\nline \"2\"\n")]);
    assert_eq!(
        calls[1].to_json_args(&["command", "timeout_s"]),
        json!({"command": "echo \"hi\"\n", "timeout_s": 5})
    );
    assert_eq!(
        calls[2].to_json_args(&["pattern", "path", "glob"]),
        json!({"pattern": "x", "path": "src", "glob": "*.rs"})
    );
}

#[test]
fn prose_is_not_a_call() {
    let text = "use read_file to see it, or read_file(path) with a variable; my_read_file(\"x\") and obj.read_file(\"y\") are not ours; read_file(\"unterminated";
    assert_eq!(parse_calls(text, TOOLS), vec![]);
}

#[test]
fn corpus_never_panics() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/text_calls");
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for c in parse_calls(&text, TOOLS) {
            let _ = c.to_json_args(&["a", "b"]);
        }
    }
}

proptest! {
    #[test]
    fn never_panics(text in "\\PC{0,300}") {
        let _ = parse_calls(&text, TOOLS);
    }

    #[test]
    fn never_panics_on_call_soup(parts in proptest::collection::vec(prop_oneof![
        Just("read_file("), Just("\""), Just("'"), Just(")"), Just(","), Just("\"\"\""), Just("\\"),
        Just("x="), Just("1"), Just("\n"), Just("é"), Just("`"), Just("true")], 0..40)) {
        let text: String = parts.concat();
        for c in parse_calls(&text, TOOLS) {
            let _ = c.to_json_args(&["path"]);
        }
    }

    #[test]
    fn quoted_strings_round_trip(arg in "[^\"\\\\\n]{0,40}") {
        let calls = parse_calls(&format!("read_file(\"{arg}\")"), TOOLS);
        prop_assert_eq!(calls.len(), 1);
        prop_assert_eq!(calls[0].args.clone(), vec![TextArg::Str(arg)]);
    }
}
