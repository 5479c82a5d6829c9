//! The checked-in JSON Schema (docs/protocol.schema.json) must match the Rust types.
//! After an intended protocol change: `UPDATE_SCHEMA=1 cargo test -p botcoder-protocol --test schema`.

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use botcoder_protocol::schema::{ERROR_KINDS, protocol_schema};

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
fn the_error_kind_table_lists_every_kind_the_schema_knows() {
    let schema = protocol_schema();
    let listed: Vec<&str> = ERROR_KINDS.iter().map(|k| k.as_str()).collect();
    let in_schema: Vec<&str> = schema["$defs"]["ErrorKind"]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["const"].as_str().unwrap())
        .collect();
    assert_eq!(listed, in_schema);
}

#[test]
fn fixed_value_strings_are_enums_in_the_schema() {
    let schema = protocol_schema();
    let defs = &schema["$defs"];
    for name in [
        "ErrorKind",
        "ProviderHealth",
        "BotserverState",
        "OutputStream",
    ] {
        assert!(defs.get(name).is_some(), "{name} missing from the schema");
    }
    assert_eq!(
        defs["TurnError"]["properties"]["kind"]["$ref"],
        "#/$defs/ErrorKind"
    );
}
