//! Reading tool arguments with errors the model can act on.

use serde_json::Value;

/// A required string argument.
pub fn req_str<'a>(args: &'a Value, name: &str) -> Result<&'a str, String> {
    match args.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(format!("argument `{name}` must be a string, got {other}")),
        None => Err(format!("missing argument `{name}`")),
    }
}

/// An optional string argument.
pub fn opt_str<'a>(args: &'a Value, name: &str) -> Result<Option<&'a str>, String> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(format!("argument `{name}` must be a string, got {other}")),
    }
}

/// An optional non-negative integer argument (numbers given as strings are accepted).
pub fn opt_u64(args: &Value, name: &str) -> Result<Option<u64>, String> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("argument `{name}` must be a non-negative integer")),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("argument `{name}` must be a number, got {s:?}")),
        Some(other) => Err(format!("argument `{name}` must be a number, got {other}")),
    }
}
