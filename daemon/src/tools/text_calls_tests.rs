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

#[test]
fn simple_calls_and_standalone_detection() {
    let text = "Let me look.\nread_file(\"src/main.rs\")\nI will also run `execute_command('cargo test')` now.\n- list_files()\n";
    let calls = parse_calls(text, TOOLS);
    assert_eq!(calls.len(), 3);
    assert_eq!(
        (
            calls[0].name.as_str(),
            calls[0].args.clone(),
            calls[0].line,
            calls[0].standalone
        ),
        ("read_file", vec![s("src/main.rs")], 2, true)
    );
    assert_eq!(
        (calls[1].name.as_str(), calls[1].standalone),
        ("execute_command", false)
    );
    assert_eq!(
        (
            calls[2].name.as_str(),
            calls[2].args.len(),
            calls[2].standalone
        ),
        ("list_files", 0, true)
    );
}

#[test]
fn escapes_triple_quotes_and_kwargs() {
    let text = "write_file(\"a.txt\", \"\"\"\nline 1\nline \"2\"\n\"\"\")\nexecute_command(\"echo \\\"hi\\\"\\n\", timeout_s=5)\nsearch('x', path=\"src\", glob='*.rs')";
    let calls = parse_calls(text, TOOLS);
    assert_eq!(calls[0].args, vec![s("a.txt"), s("line 1\nline \"2\"\n")]);
    assert!(calls[0].standalone);
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
