//! Serving one `session.subscribe`: replay from the journal, the reply streamed so far,
//! then live events; after a lag, a `lagged` notice and a resync from the journal (I1, I2, I5).

use std::sync::Arc;

use botcoder_protocol::{EventBody, TurnId};
use jsonrpsee::SubscriptionSink;
use serde_json::value::RawValue;

use super::core::SessionCore;
use crate::clock::now_rfc3339;

/// Lines replayed per blocking read.
const REPLAY_BATCH: usize = 1024;

/// Feeds `sink` until the client goes away or the session closes. `after_seq: None` means
/// live only.
pub async fn serve(
    core: Arc<SessionCore>,
    sink: SubscriptionSink,
    after_seq: Option<u64>,
    approver: bool,
) {
    let mut replay_from = after_seq;
    loop {
        let mut feed = core.hub.subscribe(approver);
        let mut delivered = match replay_from {
            Some(after) => match replay(&core, &sink, after, feed.live_after_seq).await {
                Some(last) => last,
                None => return,
            },
            None => feed.live_after_seq,
        };
        if let Some((turn_id, text)) = feed.partial.take()
            && !send_partial(&core, &sink, turn_id, text).await
        {
            return;
        }
        loop {
            let next = tokio::select! {
                p = feed.rx.recv() => p,
                () = sink.closed() => return,
            };
            let Some(p) = next else { break };
            if let Some(seq) = p.event.seq {
                if seq <= delivered {
                    continue;
                }
                delivered = seq;
            }
            if sink.send(p.json.as_ref().to_owned()).await.is_err() {
                return;
            }
        }
        if core.is_closed() {
            return;
        }
        // The hub cut us off: our queue overflowed. Say so, then resync from the journal.
        let lagged = botcoder_protocol::Event {
            seq: None,
            session_id: core.id.clone(),
            time: now_rfc3339(),
            body: EventBody::Lagged {
                resume_after_seq: delivered,
            },
        };
        let Ok(json) = serde_json::value::to_raw_value(&lagged) else {
            return;
        };
        if sink.send(json).await.is_err() {
            return;
        }
        replay_from = Some(delivered);
    }
}

/// Sends journal events with `after < seq <= upto`; returns the last seq delivered, or
/// `None` when the client is gone or the journal cannot be read.
async fn replay(core: &SessionCore, sink: &SubscriptionSink, after: u64, upto: u64) -> Option<u64> {
    let mut last = after;
    let mut offset = None;
    while last < upto {
        let lines = match core.replay_batch(last, upto, offset, REPLAY_BATCH).await {
            Ok((lines, next)) => {
                offset = Some(next);
                lines
            }
            Err(e) => {
                tracing::error!(session = %core.id, error = %e.message, "replay failed");
                return None;
            }
        };
        if lines.is_empty() {
            break;
        }
        for (seq, line) in lines {
            let json = RawValue::from_string(line).ok()?;
            sink.send(json).await.ok()?;
            last = seq;
        }
    }
    Some(last.max(upto))
}

async fn send_partial(
    core: &SessionCore,
    sink: &SubscriptionSink,
    turn_id: TurnId,
    text: String,
) -> bool {
    // A reply of many megabytes would not fit one message: send its tail only.
    let (offset, text) = super::limits::streamed_tail(text, super::limits::MAX_EVENT_BYTES / 8);
    let ev = botcoder_protocol::Event {
        seq: None,
        session_id: core.id.clone(),
        time: now_rfc3339(),
        body: EventBody::AssistantDelta {
            turn_id,
            offset,
            text,
        },
    };
    match serde_json::value::to_raw_value(&ev) {
        Ok(json) => sink.send(json).await.is_ok(),
        Err(_) => false,
    }
}
