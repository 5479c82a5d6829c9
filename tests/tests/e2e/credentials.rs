//! Credentials stay with their origin (I11) and out of everything a client or a log can read
//! (I8), tested from the hostile provider's side: a provider that redirects elsewhere, one
//! that echoes the key in its error body, a base URL carrying `user:pass@`. Next to each, the
//! honest path: a same-origin redirect is followed, an error still says what went wrong.

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use botcoder_protocol::methods::{Empty, ProviderList};
use botcoder_tests::harness::{CliOutput, TestEnv};
use botcoder_tests::mock_llm::{MockLlm, MockResponse};
use pretty_assertions::assert_eq;

const KEY: &str = "sk-test-SECRET-0123456789abcdef";
const URL_PASSWORD: &str = "hunter2-in-the-url";

async fn ask_json(env: &TestEnv) -> CliOutput {
    env.ask(&["--json"], "hi").await
}

/// Each provider kind pointed at `mock`, keyed with [`KEY`], and the header carrying it.
fn configure(env: &mut TestEnv, kind: &str, mock: &MockLlm) -> &'static str {
    env.set("LLM_MAX_RETRIES", "0");
    match kind {
        "openai" => {
            env.set("LLM_PROVIDER", "openai")
                .set("OPENAI_API_KEY", KEY)
                .set("OPENAI_BASE_URL", &mock.base_url());
            "authorization"
        }
        "azure" => {
            env.set("LLM_PROVIDER", "azure")
                .set("AZURE_OPENAI_API_KEY", KEY)
                .set("AZURE_OPENAI_ENDPOINT", &format!("http://{}", mock.addr()))
                .set("AZURE_OPENAI_DEPLOYMENT", "dep");
            "api-key"
        }
        _ => {
            env.use_anthropic_mock(mock, KEY);
            "x-api-key"
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_another_origin_receives_neither_key_nor_prompt() {
    for kind in ["openai", "azure", "anthropic"] {
        let provider = MockLlm::start().await.unwrap();
        let thief = MockLlm::start().await.unwrap();
        let target = format!("http://{}/steal?token=abc", thief.addr());
        provider.push(MockResponse::redirect(307, &target));
        let mut env = TestEnv::new();
        let header = configure(&mut env, kind, &provider);
        let _d = env.start_daemon();
        let out = ask_json(&env).await;
        assert_eq!(out.code, 1, "{kind}: {}", out.stderr);
        let (error_kind, message) = out.last_error();
        assert_eq!(error_kind, "provider_error", "{kind}");
        let origin = format!("http://{}", thief.addr());
        assert!(
            message.contains(&format!("redirected (HTTP 307) to {origin};"))
                && message.contains("set ")
                && !message.contains("token=abc"),
            "{kind}: {message}"
        );
        // The key went to its own origin, and nothing at all to the other one.
        let sent = provider.requests();
        assert_eq!(sent.len(), 1, "{kind}");
        assert!(sent[0].header(header).is_some_and(|v| v.contains(KEY)));
        assert_eq!(
            thief.requests().len(),
            0,
            "{kind}: the redirect was followed"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_within_the_origin_is_followed_with_key_and_prompt() {
    let provider = MockLlm::start().await.unwrap();
    provider.push(MockResponse::redirect(307, "/v2/chat/completions"));
    provider.push(MockResponse::text("moved and fine"));
    let mut env = TestEnv::new();
    configure(&mut env, "openai", &provider);
    let _d = env.start_daemon();
    let out = env.ask(&[], "hi").await;
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "moved and fine\n"),
        "{}",
        out.stderr
    );
    let sent = provider.requests();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].path, "/v2/chat/completions");
    assert_eq!(
        sent[1].header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(sent[1].body["messages"][1]["content"], "hi");
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut hits = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return hits;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            hits.extend(files_containing(&path, needle));
        } else if let Ok(bytes) = std::fs::read(&path)
            && String::from_utf8_lossy(&bytes).contains(needle)
        {
            hits.push(path.display().to_string());
        }
    }
    hits
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_echoing_the_key_and_url_credentials_never_show_them() {
    let provider = MockLlm::start().await.unwrap();
    let echo = format!(
        r#"{{"error":{{"message":"Incorrect API key provided: {KEY} (via http://bot:{URL_PASSWORD}@{}/v1)","type":"invalid_request_error"}}}}"#,
        provider.addr()
    );
    provider.push(MockResponse::status(401, &echo));
    let mut env = TestEnv::new();
    configure(&mut env, "openai", &provider);
    let base = format!("http://bot:{URL_PASSWORD}@{}/v1", provider.addr());
    env.set("OPENAI_BASE_URL", &base);
    let d = env.start_daemon();

    let out = ask_json(&env).await;
    assert_eq!(
        out.code, 77,
        "a rejected key exits EX_NOPERM: {}",
        out.stderr
    );
    let (kind, message) = out.last_error();
    // The honest part of the error is still there.
    assert_eq!(kind, "provider_auth");
    assert!(
        message.contains("HTTP 401")
            && message.contains("set OPENAI_API_KEY")
            && message.contains("Incorrect API key provided: ***"),
        "{message}"
    );
    let status = env.run_cli(&["status", "--json"], None).await;
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert!(
        status.stdout.contains("HTTP 401") && status.stdout.contains("http://***@127.0.0.1"),
        "{}",
        status.stdout
    );
    let client = env.client("t").await;
    let list = client.call::<ProviderList>(&Empty {}).await.unwrap();
    let list = serde_json::to_string(&list).unwrap();
    assert!(list.contains("HTTP 401"), "{list}");

    for secret in [KEY, URL_PASSWORD] {
        for (what, text) in [
            ("ask --json", &out.stdout),
            ("ask stderr", &out.stderr),
            ("status --json", &status.stdout),
            ("provider.list", &list),
        ] {
            assert!(!text.contains(secret), "{what} shows {secret}: {text}");
        }
    }
    drop(client);
    drop(d); // flushes nothing more: the log is written as it goes
    for secret in [KEY, URL_PASSWORD] {
        assert_eq!(
            files_containing(&env.root().join("state"), secret),
            Vec::<String>::new(),
            "the log shows {secret}"
        );
        assert_eq!(
            files_containing(&env.sessions_dir(), secret),
            Vec::<String>::new(),
            "a journal shows {secret}"
        );
    }
    assert!(
        std::fs::read_to_string(env.log_file())
            .unwrap()
            .contains("HTTP 401"),
        "the log still records the failure"
    );
}
