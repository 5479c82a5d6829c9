//! Server-sent events, parsed incrementally from arbitrary byte chunks.
//!
//! Chunks may split anywhere, including inside a UTF-8 character or between `\r` and `\n`.
//! Lines end with `\n`, `\r\n` or `\r`; `data:` lines of one event are joined with `\n`;
//! comments (`:`) and unknown fields are ignored; an event is dispatched at a blank line.
//!
//! Hand-written rather than taken from a crate because of one property the crates lack: the
//! parser holds at most `limit` bytes of one event, counting its joined `data:` lines *and*
//! the pending line that has no newline yet. A server sending an endless line, or endless
//! `data:` lines without the blank line that ends an event, gets an error at the cap instead
//! of growing the daemon's memory with every byte.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field, empty when absent.
    pub event: String,
    /// The joined `data:` lines.
    pub data: String,
}

/// The event being read passed the parser's limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("one server-sent event exceeded {limit} bytes")]
pub struct EventTooLarge {
    /// The limit.
    pub limit: usize,
}

/// Incremental parser state.
#[derive(Debug)]
pub struct SseParser {
    buf: Vec<u8>,
    /// A `\r` ended the previous chunk: a `\n` at the start of the next one belongs to it.
    pending_cr: bool,
    event: String,
    data: String,
    has_data: bool,
    /// Most bytes one event may hold (see the module doc).
    limit: usize,
}

impl Default for SseParser {
    fn default() -> Self {
        Self::with_limit(super::limits::ProviderLimits::default().sse_event_bytes)
    }
}

impl SseParser {
    /// A fresh parser with the default event limit.
    pub fn new() -> Self {
        Self::default()
    }

    /// A fresh parser holding at most `limit` bytes of one event.
    pub fn with_limit(limit: usize) -> Self {
        SseParser {
            buf: Vec::new(),
            pending_cr: false,
            event: String::new(),
            data: String::new(),
            has_data: false,
            limit,
        }
    }

    fn held(&self) -> usize {
        self.buf.len() + self.data.len() + self.event.len()
    }

    fn too_large(&self) -> EventTooLarge {
        EventTooLarge { limit: self.limit }
    }

    /// Feeds bytes; returns the events completed by them, or an error once one event is
    /// larger than the limit (the parser is then of no further use).
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, EventTooLarge> {
        let mut out = Vec::new();
        let mut rest = chunk;
        if self.pending_cr {
            self.pending_cr = false;
            if let Some(stripped) = rest.strip_prefix(b"\n") {
                rest = stripped;
            }
        }
        while let Some(pos) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.buf.extend_from_slice(&rest[..pos]);
            let was_cr = rest[pos] == b'\r';
            rest = &rest[pos + 1..];
            if was_cr {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    None => self.pending_cr = true,
                    Some(_) => {}
                }
            }
            if self.held() > self.limit {
                return Err(self.too_large());
            }
            let line = std::mem::take(&mut self.buf);
            if let Some(ev) = self.line(&line)? {
                out.push(ev);
            }
        }
        self.buf.extend_from_slice(rest);
        if self.held() > self.limit {
            return Err(self.too_large());
        }
        Ok(out)
    }

    /// Ends the input: a final event without its blank line is still dispatched.
    pub fn finish(&mut self) -> Option<SseEvent> {
        if !self.buf.is_empty() {
            let line = std::mem::take(&mut self.buf);
            // `push` already bounded what is held, so the last line cannot pass the limit.
            if let Ok(Some(ev)) = self.line(&line) {
                return Some(ev);
            }
        }
        self.dispatch()
    }

    fn line(&mut self, line: &[u8]) -> Result<Option<SseEvent>, EventTooLarge> {
        if line.is_empty() {
            return Ok(self.dispatch());
        }
        if line[0] == b':' {
            return Ok(None);
        }
        let line = String::from_utf8_lossy(line);
        let (field, value) = match line.find(':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(' ').unwrap_or(v))
            }
            None => (&line[..], ""),
        };
        match field {
            "data" => {
                if self.data.len() + value.len() + 1 > self.limit {
                    return Err(self.too_large());
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = value.to_owned(),
            _ => {}
        }
        Ok(None)
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = std::mem::take(&mut self.event);
        if !self.has_data {
            return None;
        }
        self.has_data = false;
        Some(SseEvent {
            event,
            data: std::mem::take(&mut self.data),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use proptest::prelude::*;

    fn parse_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for c in chunks {
            out.extend(p.push(c).unwrap());
        }
        out.extend(p.finish());
        out
    }

    fn ev(event: &str, data: &str) -> SseEvent {
        SseEvent {
            event: event.into(),
            data: data.into(),
        }
    }

    #[test]
    fn parses_events_comments_and_multiline_data() {
        let input = b": keepalive\nevent: ping\ndata: {}\n\ndata: a\ndata: b\n\nid: 3\nretry: 10\ndata:x\n\n";
        assert_eq!(
            parse_all(&[input]),
            vec![ev("ping", "{}"), ev("", "a\nb"), ev("", "x")]
        );
    }

    #[test]
    fn handles_crlf_and_cr_split_across_chunks() {
        let got = parse_all(&[b"data: one\r", b"\n\r", b"\ndata: two\r\r"]);
        assert_eq!(got, vec![ev("", "one"), ev("", "two")]);
    }

    #[test]
    fn utf8_split_inside_a_character() {
        let s = "data: héllo\n\n".as_bytes();
        let (a, b) = s.split_at(8); // inside é
        assert_eq!(parse_all(&[a, b]), vec![ev("", "héllo")]);
    }

    #[test]
    fn last_event_without_blank_line_is_dispatched() {
        assert_eq!(parse_all(&[b"data: [DONE]"]), vec![ev("", "[DONE]")]);
    }

    #[test]
    fn an_endless_line_without_a_newline_fails_at_the_limit() {
        let mut p = SseParser::with_limit(1000);
        p.push(b"data: ").unwrap();
        let mut failed = false;
        for _ in 0..100 {
            if p.push(&[b'x'; 100]).is_err() {
                failed = true;
                break;
            }
        }
        assert!(failed, "a 10 KB line passed a 1000-byte limit");
        assert!(p.buf.capacity() < 4096, "held {} bytes", p.buf.capacity());
    }

    #[test]
    fn endless_data_lines_without_a_blank_line_fail_at_the_limit() {
        let mut p = SseParser::with_limit(1000);
        let line = format!("data: {}\n", "y".repeat(90));
        let err = (0..100)
            .find_map(|_| p.push(line.as_bytes()).err())
            .expect("the event grew past the limit");
        assert_eq!(err, EventTooLarge { limit: 1000 });
        assert!(p.data.len() <= 1000);
    }

    #[test]
    fn many_events_each_under_the_limit_pass() {
        let mut p = SseParser::with_limit(200);
        let ev = format!("data: {}\n\n", "z".repeat(150));
        let mut n = 0;
        for _ in 0..1000 {
            n += p.push(ev.as_bytes()).unwrap().len();
        }
        assert_eq!(n, 1000);
    }

    proptest! {
        #[test]
        fn any_split_gives_the_same_events(input in proptest::collection::vec(any::<u8>(), 0..512), cut in 0usize..512) {
            let whole = parse_all(&[&input]);
            let cut = cut.min(input.len());
            let (a, b) = input.split_at(cut);
            prop_assert_eq!(parse_all(&[a, b]), whole);
        }

        #[test]
        fn byte_by_byte_equals_whole(events in proptest::collection::vec("[a-z{}\":, ]{0,20}", 0..10)) {
            let mut text = String::new();
            for e in &events { text.push_str(&format!("data: {e}\n\n")); }
            let bytes: Vec<&[u8]> = text.as_bytes().chunks(1).collect();
            let got = parse_all(&bytes);
            let want: Vec<SseEvent> = events.iter().map(|e| ev("", e)).collect();
            prop_assert_eq!(got, want);
        }
    }
}

#[cfg(test)]
mod corpus {
    use super::SseParser;
    use crate::llm::anthropic::AnthropicDecoder;
    use crate::llm::openai::OpenAiDecoder;
    use crate::llm::stream::ChunkDecoder;

    /// Regression inputs in daemon/tests/corpus/sse: through the parser and both decoders,
    /// split at every byte, without a panic.
    #[test]
    fn corpus_never_panics() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/sse");
        for entry in std::fs::read_dir(dir).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            for cut in 0..=bytes.len() {
                let (a, b) = bytes.split_at(cut);
                let mut p = SseParser::new();
                let (mut o, mut an) = (OpenAiDecoder::default(), AnthropicDecoder::default());
                for chunk in [a, b] {
                    for ev in p.push(chunk).unwrap_or_default() {
                        let _ = o.event(&ev.event, &ev.data, &mut Vec::new());
                        let _ = an.event(&ev.event, &ev.data, &mut Vec::new());
                    }
                }
                let _ = (o.finish(), an.finish());
            }
        }
    }
}
