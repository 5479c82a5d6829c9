//! Keeping credentials out of everything a person or a client can read (I8).
//!
//! A [`Redactor`] knows the daemon's secret values (every configured key, the botserver key,
//! passwords in URLs) and replaces them, plus the userinfo of any URL, with `***`. Providers
//! are not trusted to keep a key to themselves: an error body may echo it ("Incorrect API key
//! provided: sk-..."), and a base URL may carry `user:pass@`. So the text of every provider
//! error is redacted where it becomes an event, a status field or a log line, and the log
//! writer itself redacts each line as a last line of defence.
//!
//! One process-wide redactor is installed at start ([`install`]); the log writer and the
//! error paths read it. Values shorter than [`MIN_SECRET_LEN`] are not treated as secrets:
//! replacing a 3-letter test key everywhere would mangle ordinary text, and real keys are long.

use std::borrow::Cow;
use std::sync::{Arc, RwLock};

/// Shortest value treated as a secret.
pub const MIN_SECRET_LEN: usize = 8;

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// Known secret values, and a URL-userinfo scrubber.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redactor {
    /// Longest first, so a secret containing another is replaced whole.
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor for these values (short and duplicate ones are dropped).
    pub fn new<S: AsRef<str>>(values: impl IntoIterator<Item = S>) -> Redactor {
        let mut secrets: Vec<String> = values
            .into_iter()
            .map(|v| v.as_ref().trim().to_owned())
            .filter(|v| v.len() >= MIN_SECRET_LEN)
            .collect();
        secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        secrets.dedup();
        Redactor { secrets }
    }

    /// The secrets of a daemon configuration: every variable named like a secret
    /// (`*_KEY`, `*TOKEN*`, `*SECRET*`, `*PASSWORD*`, see `is_secret_var`) and the userinfo of
    /// every URL-valued variable.
    pub fn from_vars<'a>(vars: impl IntoIterator<Item = (&'a str, &'a str)>) -> Redactor {
        let mut values = Vec::new();
        for (name, value) in vars {
            if botcoder_config::is_secret_var(name) {
                values.push(value.to_owned());
            }
            if let Some((user, password)) = userinfo(value) {
                values.push(password.to_owned());
                values.push(format!("{user}:{password}"));
            }
        }
        Redactor::new(values)
    }

    /// Whether it knows no secret (URL userinfo is still scrubbed).
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// `text` with every known secret and every URL's userinfo replaced by [`MASK`].
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = scrub_userinfo(text);
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = Cow::Owned(out.replace(s.as_str(), MASK));
            }
        }
        out
    }
}

/// The `(user, password)` of a URL like `scheme://user:pass@host/...`, when it has a password.
fn userinfo(value: &str) -> Option<(&str, &str)> {
    let (_, rest) = value.trim().split_once("://")?;
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let (info, _) = authority.rsplit_once('@')?;
    let (user, password) = info.split_once(':')?;
    (!password.is_empty()).then_some((user, password))
}

/// Where an authority ends inside free text: a path, query, fragment, whitespace or a quote.
fn authority_end(s: &str) -> usize {
    s.find(|c: char| {
        matches!(c, '/' | '?' | '#' | '"' | '\'' | '<' | '>' | '`') || c.is_whitespace()
    })
    .unwrap_or(s.len())
}

/// Replaces the userinfo of every `scheme://userinfo@host` in `text` with [`MASK`].
pub fn scrub_userinfo(text: &str) -> Cow<'_, str> {
    if !text.contains("://") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut changed = false;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = authority_end(tail);
        match tail[..end].rfind('@') {
            Some(at) => {
                out.push_str(MASK);
                out.push_str(&tail[at..end]);
                changed = true;
            }
            None => out.push_str(&tail[..end]),
        }
        rest = &tail[end..];
    }
    if !changed {
        return Cow::Borrowed(text);
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// `scheme://host[:port]` of a URL: what a message may say about where a request went
/// (no userinfo, path or query, which can carry secrets). `None` when it is not a URL.
pub fn origin(url: &reqwest::Url) -> Option<String> {
    let host = url.host_str()?;
    Some(match url.port() {
        Some(p) => format!("{}://{host}:{p}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    })
}

fn global() -> &'static RwLock<Arc<Redactor>> {
    static GLOBAL: std::sync::OnceLock<RwLock<Arc<Redactor>>> = std::sync::OnceLock::new();
    GLOBAL.get_or_init(|| RwLock::new(Arc::new(Redactor::default())))
}

/// Makes `r` the redactor of the process (replacing any earlier one).
pub fn install(r: Redactor) {
    *global().write().unwrap_or_else(|p| p.into_inner()) = Arc::new(r);
}

/// Most secrets the process redactor learns after start (keys clients send, reloaded
/// config): a bound on the work every log line does.
const MAX_ADDED_SECRETS: usize = 1024;

/// Adds secrets learned after start (a client's key, a reloaded config's) to the process's
/// redactor, so they are kept out of logs and events like the ones read at start.
pub fn add_secrets(values: impl IntoIterator<Item = String>) {
    let new: Vec<String> = values.into_iter().collect();
    let mut g = global().write().unwrap_or_else(|p| p.into_inner());
    if new
        .iter()
        .all(|v| v.trim().len() < MIN_SECRET_LEN || g.secrets.iter().any(|s| s == v.trim()))
    {
        return;
    }
    // The newest first, so the bound forgets the oldest.
    let mut all = new;
    all.extend(g.secrets.iter().cloned());
    all.truncate(MAX_ADDED_SECRETS);
    *g = Arc::new(Redactor::new(all));
}

/// The process's redactor.
pub fn current() -> Arc<Redactor> {
    global().read().unwrap_or_else(|p| p.into_inner()).clone()
}

/// `text` redacted with the process's redactor.
pub fn scrub(text: &str) -> String {
    current().redact(text).into_owned()
}

/// A tracing writer factory that redacts every line before it reaches `inner`.
#[derive(Debug, Clone)]
pub struct RedactingMakeWriter<M> {
    inner: M,
}

impl<M> RedactingMakeWriter<M> {
    /// Wraps a writer factory.
    pub fn new(inner: M) -> Self {
        RedactingMakeWriter { inner }
    }
}

impl<'a, M: tracing_subscriber::fmt::MakeWriter<'a>> tracing_subscriber::fmt::MakeWriter<'a>
    for RedactingMakeWriter<M>
{
    type Writer = RedactingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter {
            inner: self.inner.make_writer(),
        }
    }
}

/// Redacts what it is given, then writes it whole. The fmt layer writes each formatted
/// event with one call, so a secret is never split between two writes.
#[derive(Debug)]
pub struct RedactingWriter<W> {
    inner: W,
}

impl<W: std::io::Write> std::io::Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        match current().redact(&text) {
            Cow::Borrowed(_) => self.inner.write_all(buf)?,
            Cow::Owned(clean) => self.inner.write_all(clean.as_bytes())?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn known_secrets_are_replaced_longest_first() {
        let r = Redactor::new(["sk-live-abcdef", "sk-live-abcdef-extended", "short"]);
        assert_eq!(
            r.redact("key sk-live-abcdef-extended and sk-live-abcdef; short stays"),
            "key *** and ***; short stays"
        );
        assert_eq!(r.redact("nothing here"), Cow::Borrowed("nothing here"));
    }

    #[test]
    fn url_userinfo_is_scrubbed_anywhere_in_text() {
        for (input, want) in [
            (
                "https://user:pa55word@host:8443/v1/x?q=1",
                "https://***@host:8443/v1/x?q=1",
            ),
            (
                "error sending request for url (http://tok@127.0.0.1:9/v1): refused",
                "error sending request for url (http://***@127.0.0.1:9/v1): refused",
            ),
            (
                "\"http://a:b@h\" and http://plain/x",
                "\"http://***@h\" and http://plain/x",
            ),
            ("mailto a@b, no scheme", "mailto a@b, no scheme"),
            (
                "https://host/path@not-userinfo",
                "https://host/path@not-userinfo",
            ),
        ] {
            assert_eq!(scrub_userinfo(input), want, "{input}");
        }
    }

    #[test]
    fn from_vars_takes_secret_vars_and_url_passwords() {
        let r = Redactor::from_vars([
            ("OPENAI_API_KEY", "sk-test-0123456789"),
            ("BOTSERVER_API_KEY", "bot-key-secret"),
            ("LOCAL_LLM_URL", "http://me:hunter2hunter2@127.0.0.1:1/v1"),
            ("OPENAI_MODEL", "gpt-4o-mini-long-name"),
        ]);
        let text = "sk-test-0123456789 bot-key-secret hunter2hunter2 gpt-4o-mini-long-name";
        assert_eq!(r.redact(text), "*** *** *** gpt-4o-mini-long-name");
    }

    #[test]
    fn origin_has_no_userinfo_path_or_query() {
        let u = reqwest::Url::parse("http://u:p@evil.example:8080/v1/x?key=1").unwrap();
        assert_eq!(origin(&u).as_deref(), Some("http://evil.example:8080"));
    }

    #[test]
    fn the_writer_redacts_each_write() {
        use std::io::Write;
        install(Redactor::new(["sk-writer-test-key"]));
        let mut w = RedactingWriter { inner: Vec::new() };
        w.write_all(b"error: sk-writer-test-key at http://a:b@h/\n")
            .unwrap();
        assert_eq!(
            String::from_utf8(w.inner).unwrap(),
            "error: *** at http://***@h/\n"
        );
    }
}
