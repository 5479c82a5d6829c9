//! Tests of the mock through a raw TCP client, so they check the bytes on the wire rather
//! than what a forgiving HTTP client would make of them.

use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::*;

/// Every test is bounded: a mock that hangs must fail the test, not the CI job.
async fn bounded<T>(fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .expect("test timed out")
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    /// The body's HTTP chunks, one per SSE event (empty for Content-Length bodies).
    chunks: Vec<Vec<u8>>,
    body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        http::header(&self.headers, name)
    }

    /// The `data:` payloads in order.
    fn data(&self) -> Vec<String> {
        self.body
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .map(str::to_owned)
            .collect()
    }
}

struct Client(BufReader<TcpStream>);

impl Client {
    async fn connect(mock: &MockLlm) -> Client {
        Client(BufReader::new(
            TcpStream::connect(mock.addr()).await.unwrap(),
        ))
    }

    async fn send(&mut self, path: &str, extra_headers: &str, body: &str) {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n{extra_headers}\r\n{body}",
            body.len()
        );
        self.0.write_all(request.as_bytes()).await.unwrap();
    }

    async fn response(&mut self) -> Response {
        let (line, headers) = http::read_head(&mut self.0).await.unwrap().unwrap();
        let status = line.split(' ').nth(1).unwrap().parse().unwrap();
        let chunked = http::header(&headers, "transfer-encoding") == Some("chunked");
        let (chunks, body) = if chunked {
            let chunks = http::read_chunks(&mut self.0).await.unwrap();
            let body = chunks.concat();
            (chunks, body)
        } else {
            (
                Vec::new(),
                http::read_body(&mut self.0, &headers).await.unwrap(),
            )
        };
        let body = String::from_utf8(body).unwrap();
        Response {
            status,
            headers,
            chunks,
            body,
        }
    }

    async fn post(&mut self, body: &str) -> Response {
        self.send("/v1/chat/completions", "", body).await;
        self.response().await
    }

    /// Reads raw bytes until EOF or error; returns them and whether it ended in an error.
    async fn read_to_end(&mut self) -> (Vec<u8>, bool) {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match self.0.read(&mut buf).await {
                Ok(0) => return (out, false),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(_) => return (out, true),
            }
        }
    }
}

fn content(data: &[String]) -> String {
    data.iter()
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str::<Value>(d).unwrap())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

#[tokio::test]
async fn sse_stream_sends_chunks_in_order_and_ends_with_done() {
    bounded(async {
        let mock = MockLlm::start().await.unwrap();
        mock.push(MockResponse::text("Hello, big world"));
        let resp = Client::connect(&mock).await.post("{}").await;
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("content-type"), Some("text/event-stream"));
        assert_eq!(resp.header("cache-control"), Some("no-cache"));
        let data = resp.data();
        // role, 3 pieces, usage, [DONE]; each event its own HTTP chunk.
        assert_eq!(data.len(), 6);
        assert_eq!(resp.chunks.len(), 6);
        assert!(resp.chunks.iter().all(|c| c.ends_with(b"\n\n")));
        let chunks: Vec<Value> = data[..5]
            .iter()
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        assert_eq!(chunks[0]["object"], "chat.completion.chunk");
        assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
        let pieces: Vec<&str> = chunks[1..4]
            .iter()
            .map(|c| c["choices"][0]["delta"]["content"].as_str().unwrap())
            .collect();
        assert_eq!(pieces, ["Hello, ", "big ", "world"]);
        assert_eq!(chunks[2]["choices"][0]["finish_reason"], Value::Null);
        assert_eq!(chunks[3]["choices"][0]["finish_reason"], "stop");
        assert_eq!(chunks[4]["choices"], json!([]));
        assert_eq!(
            chunks[4]["usage"],
            json!({"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13})
        );
        assert_eq!(data[5], "[DONE]");
    })
    .await;
}

#[tokio::test]
async fn rate_limited_carries_retry_after_headers() {
    bounded(async {
        let mock = MockLlm::start().await.unwrap();
        mock.push(MockResponse::rate_limited(Some("1"), Some("1500")));
        let resp = Client::connect(&mock).await.post("{}").await;
        assert_eq!(resp.status, 429);
        assert_eq!(resp.header("retry-after"), Some("1"));
        assert_eq!(resp.header("retry-after-ms"), Some("1500"));
        assert_eq!(resp.header("content-type"), Some("application/json"));
        let body: Value = serde_json::from_str(&resp.body).unwrap();
        assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    })
    .await;
}

#[tokio::test]
async fn reset_cuts_the_stream_before_the_terminator() {
    bounded(async {
        let mock = MockLlm::start().await.unwrap();
        mock.push(MockResponse::text_chunks(&["a", "b"]).with_end(StreamEnd::Reset));
        let mut client = Client::connect(&mock).await;
        client.send("/v1/chat/completions", "", "{}").await;
        let (bytes, _errored) = client.read_to_end().await;
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("data: [DONE]"), "{text}");
        assert!(
            !text.contains("\r\n0\r\n\r\n"),
            "terminator must not be sent: {text}"
        );
    })
    .await;
}

#[tokio::test]
async fn queue_is_fifo_then_default() {
    bounded(async {
        let mock = MockLlm::start().await.unwrap();
        mock.push(MockResponse::status(500, "boom"));
        mock.push(MockResponse::text("first"));
        let mut client = Client::connect(&mock).await;
        let r1 = client.post("{}").await;
        assert_eq!((r1.status, r1.body.as_str()), (500, "boom"));
        assert_eq!(r1.header("content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(content(&client.post("{}").await.data()), "first");
        assert_eq!(content(&client.post("{}").await.data()), "ok");
        assert_eq!(content(&client.post("{}").await.data()), "ok");
        mock.set_default(MockResponse::status(503, r#"{"error":"down"}"#));
        assert_eq!(client.post("{}").await.status, 503);
        assert_eq!(mock.requests().len(), 5);
    })
    .await;
}

#[tokio::test]
async fn requests_are_recorded_with_json_body_and_headers() {
    bounded(async {
        let mock = MockLlm::start().await.unwrap();
        let mut client = Client::connect(&mock).await;
        let body =
            json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
        client
            .send(
                "/v1/chat/completions?api-version=1",
                "Authorization: Bearer sk-test\r\n",
                &body.to_string(),
            )
            .await;
        client.response().await;
        client.send("/v1/messages", "", "not json").await;
        client.response().await;
        assert!(mock.wait_for_requests(2, Duration::from_secs(1)).await);
        assert!(!mock.wait_for_requests(3, Duration::from_millis(50)).await);
        let reqs = mock.requests();
        assert_eq!(reqs[0].method, "POST");
        assert_eq!(reqs[0].path, "/v1/chat/completions?api-version=1");
        assert_eq!(reqs[0].header("authorization"), Some("Bearer sk-test"));
        assert_eq!(reqs[0].header("Content-Type"), Some("application/json"));
        assert!(
            reqs[0]
                .headers
                .iter()
                .all(|(k, _)| *k == k.to_ascii_lowercase())
        );
        assert_eq!(reqs[0].body, body);
        assert_eq!(reqs[1].path, "/v1/messages");
        assert_eq!(reqs[1].body, Value::Null);
    })
    .await;
}

#[tokio::test]
async fn keep_alive_serves_several_requests_then_honours_close() {
    bounded(async {
        let mock = MockLlm::start().await.unwrap();
        mock.push(MockResponse::text("one"));
        mock.push(MockResponse::rate_limited(None, None));
        mock.push(MockResponse::text("three"));
        let mut client = Client::connect(&mock).await;
        assert_eq!(content(&client.post("{}").await.data()), "one");
        assert_eq!(client.post("{}").await.status, 429);
        client
            .send("/v1/chat/completions", "Connection: close\r\n", "{}")
            .await;
        let resp = client.response().await;
        assert_eq!(content(&resp.data()), "three");
        assert_eq!(resp.header("connection"), Some("close"));
        let (rest, errored) = client.read_to_end().await;
        assert!(
            rest.is_empty() && !errored,
            "server closes cleanly after Connection: close"
        );
        assert_eq!(mock.requests().len(), 3);
    })
    .await;
}

#[tokio::test]
async fn delay_spaces_the_chunks() {
    bounded(async {
        let mock = MockLlm::start().await.unwrap();
        mock.push(MockResponse::text_chunks(&["a", "b"]).with_delay(Duration::from_millis(30)));
        let started = Instant::now();
        let resp = Client::connect(&mock).await.post("{}").await;
        // 5 events (role, a, b, usage, [DONE]), each preceded by the delay.
        assert!(started.elapsed() >= Duration::from_millis(150));
        assert_eq!(content(&resp.data()), "ab");
    })
    .await;
}

#[tokio::test]
async fn stall_and_hang_send_nothing_more() {
    bounded(async {
        let mock = MockLlm::start().await.unwrap();
        mock.push(
            MockResponse::text("x")
                .without_usage()
                .without_done()
                .with_end(StreamEnd::Stall),
        );
        mock.push(MockResponse::Hang);
        let mut client = Client::connect(&mock).await;
        client.send("/v1/chat/completions", "", "{}").await;
        let (_, headers) = http::read_head(&mut client.0).await.unwrap().unwrap();
        assert_eq!(http::header(&headers, "transfer-encoding"), Some("chunked"));
        let short = Duration::from_millis(100);
        // role + "x" arrive, then nothing: the body never completes.
        assert!(
            tokio::time::timeout(short, http::read_chunks(&mut client.0))
                .await
                .is_err()
        );

        let mut hung = Client::connect(&mock).await;
        hung.send("/v1/chat/completions", "", "{}").await;
        assert!(mock.wait_for_requests(2, Duration::from_secs(1)).await);
        assert!(tokio::time::timeout(short, hung.response()).await.is_err());
    })
    .await;
}

#[tokio::test]
async fn chunked_request_bodies_and_expect_continue_are_read() {
    bounded(async {
        let mock = MockLlm::start().await.unwrap();
        let mut client = Client::connect(&mock).await;
        let head = "POST /v1/chat/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\
                    Expect: 100-continue\r\n\r\n";
        client.0.write_all(head.as_bytes()).await.unwrap();
        let mut line = String::new();
        tokio::io::AsyncBufReadExt::read_line(&mut client.0, &mut line)
            .await
            .unwrap();
        assert_eq!(line, "HTTP/1.1 100 Continue\r\n");
        tokio::io::AsyncBufReadExt::read_line(&mut client.0, &mut line)
            .await
            .unwrap();
        client
            .0
            .write_all(b"5\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(client.response().await.status, 200);
        assert_eq!(mock.requests()[0].body, json!({"a": 1}));
    })
    .await;
}

#[tokio::test]
async fn malformed_request_gets_400() {
    bounded(async {
        let mock = MockLlm::start().await.unwrap();
        let mut client = Client::connect(&mock).await;
        client.0.write_all(b"garbage\r\n\r\n").await.unwrap();
        let resp = client.response().await;
        assert_eq!(resp.status, 400);
        assert!(mock.requests().is_empty());
    })
    .await;
}

/// The daemon's side as the hostile party: a request a real provider would refuse (a tool
/// result no call asked for) is answered 400 and fails the test when the mock is dropped,
/// even if the test never looked; a well-formed one leaves nothing to fail.
#[tokio::test]
async fn a_refused_request_fails_the_test_that_owns_the_mock() {
    bounded(async {
        let honest = MockLlm::start().await.unwrap();
        let ok = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        let resp = Client::connect(&honest).await.post(&ok.to_string()).await;
        assert_eq!(resp.status, 200);
        assert!(honest.violations().is_empty());
        drop(honest);

        let mock = MockLlm::start().await.unwrap();
        let orphan = json!({"model": "m", "messages": [
            {"role": "user", "content": "hi"},
            {"role": "tool", "tool_call_id": "c9", "content": "x"}]});
        let resp = Client::connect(&mock).await.post(&orphan.to_string()).await;
        assert_eq!(resp.status, 400);
        assert_eq!(mock.violations().len(), 1, "{:?}", mock.violations());
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(mock)));
        let why = dropped.expect_err("dropping the mock fails the test");
        let why = why.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(why.contains("c9"), "{why}");
    })
    .await;
}
