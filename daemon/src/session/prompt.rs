//! The system prompt: who the agent is, where it works, the project's AGENTS.md, and — for
//! models without native tools — how to call tools and edit files in plain text.

use crate::llm::ToolSpec;

/// Builds the system prompt for a turn.
pub fn system_prompt(
    project: &str,
    agents_md: Option<&str>,
    native_tools: bool,
    tools: &[ToolSpec],
) -> String {
    let mut p = format!(
        "You are botcoder, a coding agent working in the project at {project}. \
         Use the tools to read, search and change the project and to run commands; paths are \
         relative to the project root. Be concise and precise. When the task is done, say what \
         you changed.\n"
    );
    p.push_str(EDIT_FORMAT);
    if !native_tools && !tools.is_empty() {
        p.push_str(
            "\nYou have no native tool calling. To use a tool, write a call on a line of its own, \
                    with string arguments in double quotes, then stop and wait for the results:\n",
        );
        for t in tools {
            if t.name == "apply_delta" {
                continue;
            }
            p.push_str(&format!(
                "- {}: {}\n",
                example(&t.name),
                first_line(&t.description)
            ));
        }
    }
    if let Some(md) = agents_md {
        p.push_str("\nProject instructions from AGENTS.md:\n");
        p.push_str(md);
        p.push('\n');
    }
    p
}

const EDIT_FORMAT: &str = "\nTo change a file you may write a CHANGE block in your reply; it is applied as written:\n\
CHANGE: path/to/file\n\
<<<<<<< CURRENT\n\
exact existing lines (empty to replace or create the whole file)\n\
=======\n\
replacement lines\n\
>>>>>>> NEW\n";

fn example(tool: &str) -> String {
    match tool {
        "read_file" => "read_file(\"src/main.rs\")".to_owned(),
        "write_file" => "write_file(\"path\", \"\"\"full content\"\"\")".to_owned(),
        "edit_file" => "edit_file(\"path\", \"old text\", \"new text\")".to_owned(),
        "list_files" => "list_files(\"dir\")".to_owned(),
        "search" => "search(\"regex\", \"dir\")".to_owned(),
        "execute_command" => "execute_command(\"cargo test\")".to_owned(),
        "git" => "git(\"status\")".to_owned(),
        other => format!("{other}(...)"),
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_mode_teaches_the_call_style_and_agents_md_is_included() {
        let tools = vec![ToolSpec {
            name: "read_file".into(),
            description: "Read a file.".into(),
            parameters: serde_json::json!({}),
        }];
        let p = system_prompt("/p", Some("Run make test."), false, &tools);
        assert!(p.contains("read_file(\"src/main.rs\")"), "{p}");
        assert!(p.contains("CHANGE: path/to/file"));
        assert!(p.contains("Run make test."));
        let native = system_prompt("/p", None, true, &tools);
        assert!(!native.contains("no native tool calling"));
    }
}
