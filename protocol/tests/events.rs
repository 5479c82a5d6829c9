//! Every event variant survives the wire: serialized with its `type` tag, read back equal.
//! The table has one sample per variant; `variant_index` has no wildcard arm, so a new
//! variant does not compile until it has an index here, and the test then fails until it
//! has a sample.

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use botcoder_protocol::methods::{BotserverInfo, ProviderInfo};
use botcoder_protocol::{
    ApprovalDecision, ApprovalPolicy, BotserverState, ErrorKind, Event, EventBody, FileChange,
    FileChangeStatus, Mode, OutputStream, ProviderHealth, ToolOrigin, TurnError, TurnStatus,
};
use pretty_assertions::assert_eq;
use serde_json::json;

/// Position of the variant in the table below. No `_` arm: adding a variant breaks the build
/// here first.
fn variant_index(body: &EventBody) -> usize {
    match body {
        EventBody::SessionCreated { .. } => 0,
        EventBody::SessionRenamed { .. } => 1,
        EventBody::UserMessage { .. } => 2,
        EventBody::TurnStarted { .. } => 3,
        EventBody::AssistantDelta { .. } => 4,
        EventBody::AssistantMessage { .. } => 5,
        EventBody::Usage { .. } => 6,
        EventBody::ProviderRetry { .. } => 7,
        EventBody::RateLimitWait { .. } => 8,
        EventBody::ModeChanged { .. } => 9,
        EventBody::ProviderSwitched { .. } => 10,
        EventBody::ToolCall { .. } => 11,
        EventBody::ToolOutput { .. } => 12,
        EventBody::ToolResult { .. } => 13,
        EventBody::FileChanged { .. } => 14,
        EventBody::ApprovalRequested { .. } => 15,
        EventBody::ApprovalResolved { .. } => 16,
        EventBody::AssistantReasoningDelta { .. } => 17,
        EventBody::AssistantReasoning { .. } => 18,
        EventBody::SessionConfigured { .. } => 19,
        EventBody::TurnChanges { .. } => 20,
        EventBody::TurnReverted { .. } => 21,
        EventBody::TurnUnreverted { .. } => 22,
        EventBody::ContextCompacted { .. } => 23,
        EventBody::PipelineProgress { .. } => 24,
        EventBody::TurnCompleted { .. } => 25,
        EventBody::Lagged { .. } => 26,
        EventBody::Unknown => 27,
    }
}
const VARIANTS: usize = 28;

fn files() -> Vec<FileChange> {
    vec![FileChange {
        path: "src/lib.rs".into(),
        status: FileChangeStatus::Modified,
        added: 3,
        removed: 1,
    }]
}

/// One sample per variant, with every optional field set so that each one is exercised.
fn samples() -> Vec<EventBody> {
    let t = || "t-1".into();
    vec![
        EventBody::SessionCreated {
            project_path: "/p".into(),
            title: Some("title".into()),
        },
        EventBody::SessionRenamed {
            title: "new".into(),
        },
        EventBody::UserMessage {
            turn_id: t(),
            text: "hi".into(),
            client: "botcoder-cli".into(),
        },
        EventBody::TurnStarted {
            turn_id: t(),
            provider: Some("openai".into()),
            model: Some("gpt".into()),
        },
        EventBody::AssistantDelta {
            turn_id: t(),
            offset: 3,
            text: "x".into(),
        },
        EventBody::AssistantMessage {
            turn_id: t(),
            text: "done".into(),
            partial: true,
        },
        EventBody::Usage {
            turn_id: t(),
            input_tokens: 10,
            output_tokens: 5,
            cached_input_tokens: Some(4),
            reasoning_tokens: Some(2),
            cost_usd: Some(0.25),
        },
        EventBody::ProviderRetry {
            turn_id: Some(t()),
            provider: "openai".into(),
            attempt: 1,
            wait_ms: 200,
            status: Some(429),
            reason: "slow down".into(),
        },
        EventBody::RateLimitWait {
            provider: "openai".into(),
            wait_ms: 100,
            reason: "tokens per minute".into(),
        },
        EventBody::ModeChanged {
            mode: Mode::MultiAgent,
            reason: "botserver healthy".into(),
        },
        EventBody::ProviderSwitched {
            from: "a".into(),
            to: "b".into(),
            reason: "down".into(),
        },
        EventBody::ToolCall {
            turn_id: t(),
            call_id: "c1".into(),
            name: "read_file".into(),
            args: json!({"path": "a"}),
            executor: "local".into(),
            origin: ToolOrigin::Text,
        },
        EventBody::ToolOutput {
            turn_id: t(),
            call_id: "c1".into(),
            stream: OutputStream::Stderr,
            text: "warn".into(),
        },
        EventBody::ToolResult {
            turn_id: t(),
            call_id: "c1".into(),
            ok: false,
            output: "out".into(),
            exit_code: Some(2),
            truncated: true,
        },
        EventBody::FileChanged {
            turn_id: t(),
            path: "a".into(),
            diff: "@@".into(),
        },
        EventBody::ApprovalRequested {
            turn_id: t(),
            call_id: "c1".into(),
            tool: "execute_command".into(),
            summary: "run cargo test".into(),
            diff: Some("@@".into()),
            scope: Some("cargo test".into()),
        },
        EventBody::ApprovalResolved {
            turn_id: t(),
            call_id: "c1".into(),
            decision: ApprovalDecision::AllowSession,
            decided_by: "policy".into(),
        },
        EventBody::AssistantReasoningDelta {
            turn_id: t(),
            offset: 0,
            text: "hmm".into(),
        },
        EventBody::AssistantReasoning {
            turn_id: t(),
            text: "because".into(),
            replay: Some(json!({"encrypted_content": "…"})),
        },
        EventBody::SessionConfigured {
            provider: Some("anthropic".into()),
            model: Some("claude".into()),
            base_url: Some("http://127.0.0.1:1".into()),
            approval: Some(ApprovalPolicy::ReadOnly),
            sandbox: Some("bwrap".into()),
            by: "config".into(),
        },
        EventBody::TurnChanges {
            turn_id: t(),
            files: files(),
        },
        EventBody::TurnReverted {
            turn_id: t(),
            files: files(),
            by: "botcoder-cli".into(),
        },
        EventBody::TurnUnreverted {
            turn_id: t(),
            files: files(),
            by: "botcoder-cli".into(),
        },
        EventBody::ContextCompacted {
            turn_id: t(),
            before_tokens: 100,
            after_tokens: 50,
            method: "summarized".into(),
            summary: Some("what happened so far".into()),
            summarized_messages: Some(12),
        },
        EventBody::PipelineProgress {
            turn_id: t(),
            task_id: "task".into(),
            step: "build".into(),
            message: "building".into(),
            progress: 50.0,
            current_step: Some(1),
            total_steps: Some(2),
            agent: Some("coder".into()),
        },
        EventBody::TurnCompleted {
            turn_id: t(),
            status: TurnStatus::Failed,
            error: Some(TurnError {
                kind: ErrorKind::RateLimited,
                message: "try later".into(),
            }),
        },
        EventBody::Lagged {
            resume_after_seq: 9,
        },
        EventBody::Unknown,
    ]
}

#[test]
fn the_table_has_exactly_one_sample_per_variant() {
    let indices: Vec<usize> = samples().iter().map(variant_index).collect();
    assert_eq!(indices, (0..VARIANTS).collect::<Vec<_>>());
}

#[test]
fn every_event_variant_round_trips_with_its_type_tag() {
    for body in samples() {
        let event = Event {
            seq: body.is_durable().then_some(7),
            session_id: "s-1".into(),
            time: "2026-01-01T00:00:00.000Z".into(),
            body,
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["type"], event.kind(), "{json}");
        assert_eq!(json["session_id"], "s-1");
        assert_eq!(json.get("seq").is_some(), event.body.is_durable(), "{json}");
        let back: Event = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, event, "{json}");
    }
}

#[test]
fn typed_fields_keep_their_wire_strings() {
    let completed = serde_json::to_value(&samples()[25]).unwrap();
    assert_eq!(
        completed,
        json!({"type": "turn.completed", "turn_id": "t-1", "status": "failed",
               "error": {"kind": "rate_limited", "message": "try later"}})
    );
    let output = serde_json::to_value(&samples()[12]).unwrap();
    assert_eq!(output["stream"], "stderr");
    for kind in botcoder_protocol::schema::ERROR_KINDS {
        assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
    }
    for h in [
        ProviderHealth::Ok,
        ProviderHealth::Failing,
        ProviderHealth::Unknown,
    ] {
        assert_eq!(serde_json::to_value(h).unwrap(), h.as_str());
    }
    for s in [
        BotserverState::Healthy,
        BotserverState::Degraded,
        BotserverState::Down,
        BotserverState::Unknown,
    ] {
        assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
    }
    for s in [OutputStream::Stdout, OutputStream::Stderr] {
        assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
    }
}

#[test]
fn values_from_a_newer_daemon_read_as_unknown_instead_of_failing() {
    let error: TurnError =
        serde_json::from_value(json!({"kind": "quota_gone", "message": "m"})).unwrap();
    assert_eq!(error.kind, ErrorKind::Unknown);
    let provider: ProviderInfo = serde_json::from_value(json!({
        "name": "openai", "model": "m", "base_url": "http://127.0.0.1:1",
        "capabilities": {"streaming": true, "native_tools": true, "context_window": 1, "vision": false},
        "health": "warming_up"
    }))
    .unwrap();
    assert_eq!(provider.health, ProviderHealth::Unknown);
    let bot: BotserverInfo = serde_json::from_value(json!({
        "url": "http://127.0.0.1:1", "state": "half_open", "facade": true,
        "fallback_to_local": true
    }))
    .unwrap();
    assert_eq!(bot.state, BotserverState::Unknown);
}

#[test]
fn an_event_of_a_newer_type_reads_as_unknown() {
    let json = r#"{"seq":4,"session_id":"s","time":"t","type":"future.thing","x":{"y":1}}"#;
    let event: Event = serde_json::from_str(json).unwrap();
    assert_eq!(event.seq, Some(4));
    assert_eq!(event.body, EventBody::Unknown);
    assert!(!event.body.is_durable());
}

#[test]
fn mode_changed_is_durable_so_a_late_attach_learns_the_mode() {
    assert!(samples()[9].is_durable());
}
