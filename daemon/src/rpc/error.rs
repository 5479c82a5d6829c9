//! The one mapping from daemon errors to JSON-RPC errors.

use botcoder_protocol::ErrorData;
use jsonrpsee::types::ErrorObjectOwned;

use crate::error::DaemonError;

/// A JSON-RPC error with the kind's code, the message, and `data.kind`.
pub fn to_rpc_error(e: DaemonError) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(e.kind.code(), e.message, Some(ErrorData { kind: e.kind }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use botcoder_protocol::ErrorKind;

    #[test]
    fn kind_travels_in_data() {
        let err = to_rpc_error(DaemonError::session_not_found("abc"));
        assert_eq!(err.code(), -32001);
        let data: ErrorData = serde_json::from_str(err.data().unwrap().get()).unwrap();
        assert_eq!(data.kind, ErrorKind::SessionNotFound);
        assert!(err.message().contains("abc"));
    }
}
