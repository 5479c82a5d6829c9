//! Fan-out of one session's events to its subscribers (invariants I1, I2, I5).
//!
//! Each subscriber has its own bounded queue. Publishing never waits: a subscriber whose
//! queue is full is cut off and told it lagged; it then resyncs from the journal by seq, so
//! durable events still arrive without a gap. The hub also remembers the text of the reply
//! being streamed, so that a subscriber joining mid-reply first gets that text as one delta.

use std::sync::{Arc, Mutex, MutexGuard};

use botcoder_protocol::{Event, EventBody, SessionId, TurnId};
use serde_json::value::RawValue;
use tokio::sync::mpsc;

/// Capacity of each subscriber's queue. Large enough that a healthy client never overflows
/// it at thousands of deltas a second; small enough to bound memory per stuck client.
pub const SUBSCRIBER_QUEUE: usize = 4096;

/// What a subscriber receives: the event and its serialized form (serialized once, shared).
#[derive(Debug, Clone)]
pub struct Published {
    /// The event.
    pub event: Arc<Event>,
    /// Its JSON.
    pub json: Arc<RawValue>,
}

/// A subscriber's end of its queue.
#[derive(Debug)]
pub struct Feed {
    /// Live events after `live_after_seq`.
    pub rx: mpsc::Receiver<Published>,
    /// The last durable seq published before this subscriber was registered: replay up to
    /// and including it comes from the journal.
    pub live_after_seq: u64,
    /// The reply being streamed at registration, to send before live events (I2).
    pub partial: Option<(TurnId, String)>,
}

#[derive(Debug, Default)]
struct State {
    last_seq: u64,
    /// Each subscriber's queue, and whether its client answers approvals.
    subscribers: Vec<(mpsc::Sender<Published>, bool)>,
    /// Text of the reply being streamed: turn and text so far.
    streaming: Option<(TurnId, String)>,
}

/// One session's broadcast point.
#[derive(Debug)]
pub struct Hub {
    session_id: SessionId,
    state: Mutex<State>,
}

impl Hub {
    /// A hub whose journal ends at `last_seq`.
    pub fn new(session_id: SessionId, last_seq: u64) -> Hub {
        Hub {
            session_id,
            state: Mutex::new(State {
                last_seq,
                ..State::default()
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave State inconsistent (every update is
        // a single assignment), so a poisoned lock is safe to keep using.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The session this hub serves.
    pub fn session_id(&self) -> &SessionId {
        &self.session_id
    }

    /// Seq of the last durable event published.
    pub fn last_seq(&self) -> u64 {
        self.lock().last_seq
    }

    /// Number of live subscribers.
    pub fn subscriber_count(&self) -> usize {
        self.lock().subscribers.len()
    }

    /// Subscribers whose feed is still open (a subscriber that went away is only removed
    /// at the next publish; this does not count it).
    pub fn live_subscriber_count(&self) -> usize {
        self.lock()
            .subscribers
            .iter()
            .filter(|(tx, _)| !tx.is_closed())
            .count()
    }

    /// Live subscribers whose client declared the approvals capability.
    pub fn approver_count(&self) -> usize {
        self.lock()
            .subscribers
            .iter()
            .filter(|(tx, approver)| *approver && !tx.is_closed())
            .count()
    }

    /// Registers a subscriber. Atomic with respect to [`Hub::publish`]: every event is
    /// either at or below `live_after_seq` (in the journal already) or in the queue.
    pub fn subscribe(&self, approver: bool) -> Feed {
        let (tx, rx) = mpsc::channel(SUBSCRIBER_QUEUE);
        let mut st = self.lock();
        st.subscribers.push((tx, approver));
        Feed {
            rx,
            live_after_seq: st.last_seq,
            partial: st.streaming.clone(),
        }
    }

    /// Sends an event to every subscriber, dropping those whose queue is full or closed.
    /// Durable events must be journaled before they are published.
    pub fn publish(&self, event: Event) {
        match serde_json::value::to_raw_value(&event) {
            Ok(json) => self.publish_serialized(event, json),
            Err(e) => tracing::error!(error = %e, "event does not serialize; not published"),
        }
    }

    /// [`Hub::publish`] for an event already serialized as `json`.
    pub fn publish_serialized(&self, event: Event, json: Box<RawValue>) {
        let published = Published {
            event: Arc::new(event),
            json: Arc::from(json),
        };
        let mut st = self.lock();
        match &published.event.body {
            EventBody::AssistantDelta { turn_id, text, .. } => match &mut st.streaming {
                Some((t, so_far)) if t == turn_id => so_far.push_str(text),
                other => *other = Some((turn_id.clone(), text.clone())),
            },
            EventBody::AssistantMessage { .. } | EventBody::TurnCompleted { .. } => {
                st.streaming = None;
            }
            _ => {}
        }
        if let Some(seq) = published.event.seq {
            st.last_seq = seq;
        }
        st.subscribers
            .retain(|(tx, _)| match tx.try_send(published.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::debug!(session = %self.session_id, "subscriber lagged; cut off");
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            });
    }

    /// Drops every subscriber (their feeds end).
    pub fn close_all(&self) {
        self.lock().subscribers.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn event(seq: Option<u64>, body: EventBody) -> Event {
        Event {
            seq,
            session_id: "s".into(),
            time: String::new(),
            body,
        }
    }

    fn delta(offset: u64, text: &str) -> Event {
        event(
            None,
            EventBody::AssistantDelta {
                turn_id: "t".into(),
                offset,
                text: text.into(),
            },
        )
    }

    #[test]
    fn subscriber_joining_mid_reply_gets_text_so_far() {
        let hub = Hub::new("s".into(), 3);
        hub.publish(delta(0, "Hel"));
        hub.publish(delta(3, "lo"));
        let feed = hub.subscribe(false);
        assert_eq!(feed.live_after_seq, 3);
        assert_eq!(feed.partial, Some((TurnId::from("t"), "Hello".to_owned())));
        let done = EventBody::AssistantMessage {
            turn_id: "t".into(),
            text: "Hello".into(),
            partial: false,
        };
        hub.publish(event(Some(4), done));
        assert_eq!(hub.subscribe(false).partial, None);
        assert_eq!(hub.last_seq(), 4);
    }

    #[test]
    fn full_queue_cuts_off_only_that_subscriber() {
        let hub = Hub::new("s".into(), 0);
        let mut slow = hub.subscribe(false);
        let mut fast = hub.subscribe(false);
        for i in 0..SUBSCRIBER_QUEUE as u64 + 10 {
            hub.publish(delta(i, "x"));
            while fast.rx.try_recv().is_ok() {}
        }
        assert_eq!(hub.subscriber_count(), 1);
        let mut got = 0;
        while slow.rx.try_recv().is_ok() {
            got += 1;
        }
        assert_eq!(got, SUBSCRIBER_QUEUE);
        // The slow feed is closed: the hub dropped its sender.
        assert!(matches!(
            slow.rx.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
    }
}
