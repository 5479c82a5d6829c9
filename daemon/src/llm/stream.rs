//! From an HTTP response body to provider events: SSE framing, the idle timeout, and the
//! wire format's chunk decoder. Shared by every SSE-speaking provider.

use std::collections::VecDeque;
use std::time::Duration;

use botcoder_protocol::ErrorKind;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;

use super::limits::{ProviderLimits, ReplyBudget};
use super::sse::SseParser;
use super::{EventStream, ProviderError, ProviderEvent};

/// Decodes one wire format's SSE events.
pub trait ChunkDecoder: Send + 'static {
    /// Handles one SSE event (`event` is empty when the server sent no `event:` line).
    fn event(
        &mut self,
        event: &str,
        data: &str,
        out: &mut Vec<ProviderEvent>,
    ) -> Result<(), ProviderError>;
    /// True once the format's end marker was seen; later bytes are ignored.
    fn is_done(&self) -> bool;
    /// The stream ended (marker or EOF): the final `Done`, or why the reply is incomplete.
    fn finish(&mut self) -> Result<ProviderEvent, ProviderError>;
}

struct State<D> {
    name: String,
    body: BoxStream<'static, reqwest::Result<Bytes>>,
    parser: SseParser,
    decoder: D,
    budget: ReplyBudget,
    queue: VecDeque<Result<ProviderEvent, ProviderError>>,
    finished: bool,
    idle: Duration,
}

/// The events of an SSE response, decoded by `decoder`, within `limits` (an event or a reply
/// past its cap ends the stream with `limit_exceeded`). Dropping the stream closes the
/// connection at once (no background task keeps reading).
pub fn sse_event_stream<D: ChunkDecoder>(
    name: String,
    resp: reqwest::Response,
    idle: Duration,
    decoder: D,
    limits: ProviderLimits,
) -> EventStream {
    let state = State {
        name,
        body: resp.bytes_stream().boxed(),
        parser: SseParser::with_limit(limits.sse_event_bytes),
        decoder,
        budget: ReplyBudget::new(limits),
        queue: VecDeque::new(),
        finished: false,
        idle,
    };
    Box::pin(futures::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(item) = st.queue.pop_front() {
                return Some((item, st));
            }
            if st.finished {
                return None;
            }
            st.fill().await;
        }
    }))
}

impl<D: ChunkDecoder> State<D> {
    async fn fill(&mut self) {
        match tokio::time::timeout(self.idle, self.body.next()).await {
            Err(_) => self.fail(ProviderError::fatal(
                ErrorKind::ProviderUnavailable,
                format!(
                    "{}: the stream sent nothing for {} s and was abandoned (LLM_IDLE_TIMEOUT_S raises the limit)",
                    self.name,
                    self.idle.as_secs()
                ),
            )),
            Ok(Some(Ok(chunk))) => match self.parser.push(&chunk) {
                Ok(events) => self.decode(events),
                Err(too_large) => self.fail(super::limits::exceeded(
                    &self.name,
                    "one server-sent event",
                    too_large.limit,
                    "BOTCODER_MAX_SSE_EVENT_BYTES",
                )),
            },
            Ok(Some(Err(e))) => {
                self.fail(ProviderError::transport(&self.name, format!("the stream broke: {e}")))
            }
            Ok(None) => {
                let tail: Vec<_> = self.parser.finish().into_iter().collect();
                self.decode(tail);
                if !self.finished {
                    let end = self.decoder.finish();
                    self.queue.push_back(end);
                    self.finished = true;
                }
            }
        }
    }

    fn decode(&mut self, events: Vec<super::sse::SseEvent>) {
        let mut out = Vec::new();
        for ev in events {
            let checked = out.len();
            let decoded = self.decoder.event(&ev.event, &ev.data, &mut out);
            // What the event produced is counted against the reply's caps before it is
            // passed on; the first event past a cap ends the stream.
            for at in checked..out.len() {
                if let Err(e) = self.budget.check(&self.name, &out[at]) {
                    out.truncate(at);
                    self.queue.extend(out.into_iter().map(Ok));
                    return self.fail(e);
                }
            }
            if let Err(e) = decoded {
                self.queue.extend(out.drain(..).map(Ok));
                return self.fail(e);
            }
            if self.decoder.is_done() {
                self.queue.extend(out.drain(..).map(Ok));
                let end = self.decoder.finish();
                self.queue.push_back(end);
                self.finished = true;
                return;
            }
        }
        self.queue.extend(out.into_iter().map(Ok));
    }

    fn fail(&mut self, err: ProviderError) {
        self.queue.push_back(Err(err));
        self.finished = true;
    }
}
