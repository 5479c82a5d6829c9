//! An ACP prompt (content blocks) as the text of one daemon user message.

use agent_client_protocol::v1::schema::{ContentBlock, EmbeddedResourceResource};

/// The prompt as one message: text as it is, a resource link as a line naming it, an
/// embedded text resource as a fenced block under its URI. Media the agent did not offer
/// to take (images, audio, binary resources) is named, not dropped silently.
pub fn prompt_text(blocks: &[ContentBlock]) -> String {
    let mut parts: Vec<String> = Vec::new();
    for b in blocks {
        match b {
            ContentBlock::Text(t) => parts.push(t.text.clone()),
            ContentBlock::ResourceLink(l) => {
                parts.push(format!("[{}]({})", l.name, l.uri));
            }
            ContentBlock::Resource(r) => match &r.resource {
                EmbeddedResourceResource::TextResourceContents(t) => {
                    let fence = fence_for(&t.text);
                    parts.push(format!(
                        "{}\n{fence}\n{}\n{fence}",
                        t.uri,
                        t.text.trim_end()
                    ));
                }
                EmbeddedResourceResource::BlobResourceContents(b) => {
                    parts.push(format!("({} attached as binary; not shown)", b.uri));
                }
                _ => parts.push("(an attachment of an unknown kind; not shown)".to_owned()),
            },
            ContentBlock::Image(_) => parts.push("(an image; this agent reads text only)".into()),
            ContentBlock::Audio(_) => parts.push("(audio; this agent reads text only)".into()),
            _ => parts.push("(content of an unknown kind; not shown)".into()),
        }
    }
    parts.join("\n\n")
}

/// A code fence longer than any backtick run in `text`, so the file cannot close it.
fn fence_for(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    "`".repeat((longest + 1).max(3))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use agent_client_protocol::v1::schema::{
        EmbeddedResource, ResourceLink, TextContent, TextResourceContents,
    };
    use pretty_assertions::assert_eq;

    #[test]
    fn text_links_and_embedded_files_become_one_message() {
        let blocks = vec![
            ContentBlock::Text(TextContent::new("explain")),
            ContentBlock::ResourceLink(ResourceLink::new("a.rs", "file:///p/a.rs")),
            ContentBlock::Resource(EmbeddedResource::new(
                EmbeddedResourceResource::TextResourceContents(TextResourceContents::new(
                    "fn main() {}\n```\n",
                    "file:///p/b.rs",
                )),
            )),
        ];
        assert_eq!(
            prompt_text(&blocks),
            "explain\n\n[a.rs](file:///p/a.rs)\n\nfile:///p/b.rs\n````\nfn main() {}\n```\n````"
        );
    }
}
