//! Helpers for reading event streams in tests.

use std::time::Duration;

use botcoder_protocol::client::Subscription;
use botcoder_protocol::{Event, EventBody};

/// Reads events until `done` returns true for one (included), or panics after `timeout`.
pub async fn collect_until(
    sub: &mut Subscription<Event>,
    timeout: Duration,
    mut done: impl FnMut(&Event) -> bool,
) -> Vec<Event> {
    let mut out = Vec::new();
    let result = tokio::time::timeout(timeout, async {
        while let Some(item) = sub.next().await {
            let ev = item.unwrap_or_else(|e| panic!("bad event: {e}"));
            let stop = done(&ev);
            out.push(ev);
            if stop {
                return true;
            }
        }
        false
    })
    .await;
    match result {
        Ok(true) => out,
        Ok(false) => panic!(
            "subscription ended early after {} events: {:?}",
            out.len(),
            out.last()
        ),
        Err(_) => panic!(
            "timed out after {} events; last: {:?}",
            out.len(),
            out.last()
        ),
    }
}

/// Collects until the `n`th `turn.completed`.
pub async fn until_turns_completed(
    sub: &mut Subscription<Event>,
    n: usize,
    timeout: Duration,
) -> Vec<Event> {
    let mut seen = 0;
    collect_until(sub, timeout, |e| {
        if matches!(e.body, EventBody::TurnCompleted { .. }) {
            seen += 1;
        }
        seen >= n
    })
    .await
}

/// Only the durable events.
pub fn durable(events: &[Event]) -> Vec<Event> {
    events.iter().filter(|e| e.seq.is_some()).cloned().collect()
}

/// Reassembles assistant text from deltas using offsets, as a client must: returns the
/// text and the number of bytes that arrived twice (must be 0 when offsets are honoured).
pub fn assemble(events: &[Event]) -> (String, usize) {
    let mut text = String::new();
    let mut doubled = 0;
    for e in events {
        if let EventBody::AssistantDelta {
            offset,
            text: piece,
            ..
        } = &e.body
        {
            let offset = *offset as usize;
            assert!(
                offset <= text.len(),
                "gap: delta at {offset} but only {} bytes known",
                text.len()
            );
            let overlap = text.len() - offset;
            doubled += overlap.min(piece.len());
            if piece.len() > overlap {
                text.push_str(&piece[overlap..]);
            }
        }
    }
    (text, doubled)
}

/// The final `assistant.message` texts.
pub fn messages(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::AssistantMessage { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}
