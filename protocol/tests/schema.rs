//! The checked-in JSON Schema (docs/protocol.schema.json) must match the Rust types.
//! After an intended protocol change: `UPDATE_SCHEMA=1 cargo test -p botcoder-protocol --test schema`.

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use botcoder_protocol::schema::{ERROR_KINDS, protocol_schema};
use botcoder_protocol::{Event, EventBody, TurnStatus};

fn schema_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/protocol.schema.json")
}

#[test]
fn checked_in_schema_matches_the_types() {
    let rendered = serde_json::to_string_pretty(&protocol_schema()).unwrap() + "\n";
    if std::env::var("UPDATE_SCHEMA").is_ok_and(|v| v == "1") {
        std::fs::write(schema_path(), &rendered).unwrap();
        return;
    }
    let on_disk = std::fs::read_to_string(schema_path()).unwrap_or_default();
    assert!(
        on_disk == rendered,
        "docs/protocol.schema.json is out of date with the protocol types; run \
         `UPDATE_SCHEMA=1 cargo test -p botcoder-protocol --test schema` and review the diff"
    );
}

#[test]
fn every_error_kind_is_listed_with_its_code() {
    let schema = protocol_schema();
    for kind in ERROR_KINDS {
        assert_eq!(
            schema["errors"]["codes"][kind.as_str()],
            kind.code(),
            "{kind}"
        );
    }
    let codes: std::collections::HashSet<i32> = ERROR_KINDS.iter().map(|k| k.code()).collect();
    assert_eq!(codes.len(), ERROR_KINDS.len(), "codes must be distinct");
}

#[test]
fn events_round_trip_with_their_type_tags() {
    let bodies = vec![
        EventBody::UserMessage {
            turn_id: "t".into(),
            text: "hi".into(),
            client: "c".into(),
        },
        EventBody::AssistantDelta {
            turn_id: "t".into(),
            offset: 3,
            text: "x".into(),
        },
        EventBody::TurnCompleted {
            turn_id: "t".into(),
            status: TurnStatus::Completed,
            error: None,
        },
        EventBody::Lagged {
            resume_after_seq: 9,
        },
    ];
    for body in bodies {
        let event = Event {
            seq: Some(1),
            session_id: "s".into(),
            time: "t".into(),
            body,
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["type"], event.kind());
        assert_eq!(serde_json::from_value::<Event>(json).unwrap(), event);
    }
}

#[test]
fn an_event_of_a_newer_type_reads_as_unknown() {
    let json = r#"{"seq":4,"session_id":"s","time":"t","type":"future.thing","x":{"y":1}}"#;
    let event: Event = serde_json::from_str(json).unwrap();
    assert_eq!(event.seq, Some(4));
    assert_eq!(event.body, EventBody::Unknown);
    assert!(!event.body.is_durable());
}
