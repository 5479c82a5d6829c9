//! The models a provider offers: its `GET /models` (OpenAI and compatible servers, Ollama,
//! llama.cpp, vLLM, LM Studio; Anthropic's `/v1/models`), for `provider.list`. Bounded: a
//! short timeout, a capped body and a capped count, so a slow or hostile server only
//! leaves its own list empty (I10).

use std::time::Duration;

use super::ProviderSpec;
use crate::llm::openai::OpenAiAuth;

/// How long one listing may take.
const TIMEOUT: Duration = Duration::from_secs(3);
/// Largest listing body read.
const MAX_BODY: usize = 1024 * 1024;
/// Most model names kept.
const MAX_MODELS: usize = 500;

/// The model ids `spec`'s server lists; empty where it has no listing (Azure lists
/// deployments elsewhere).
pub async fn list(spec: &ProviderSpec) -> Result<Vec<String>, String> {
    let http = crate::llm::http_client()?;
    let rb = match spec {
        ProviderSpec::OpenAi(c) if c.name == "azure" => return Ok(Vec::new()),
        ProviderSpec::OpenAi(c) => {
            let rb = http.get(format!("{}/models", c.base_url.trim_end_matches('/')));
            match &c.auth {
                OpenAiAuth::Bearer(k) => rb.bearer_auth(k.expose()),
                OpenAiAuth::ApiKeyHeader(k) => rb.header("api-key", k.expose()),
                OpenAiAuth::None => rb,
            }
        }
        ProviderSpec::Anthropic(c) => http
            .get(format!("{}/v1/models", c.base_url.trim_end_matches('/')))
            .header("x-api-key", c.api_key.expose())
            .header(
                "anthropic-version",
                crate::llm::anthropic::ANTHROPIC_VERSION,
            ),
    };
    let fetch = async {
        let mut resp = rb.send().await.map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status().as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(format!("the listing is larger than {MAX_BODY} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    let body = tokio::time::timeout(TIMEOUT, fetch)
        .await
        .map_err(|_| format!("no answer within {} s", TIMEOUT.as_secs()))??;
    Ok(parse(&body))
}

/// `{"data": [{"id": "..."}]}` (OpenAI, Anthropic) or `{"models": [{"name": "..."}]}`.
fn parse(body: &[u8]) -> Vec<String> {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    let items = v
        .get("data")
        .or_else(|| v.get("models"))
        .and_then(|d| d.as_array())
        .cloned()
        .unwrap_or_default();
    let mut out: Vec<String> = items
        .iter()
        .filter_map(|m| m.get("id").or_else(|| m.get("name")))
        .filter_map(|s| s.as_str())
        .filter(|s| s.len() <= 200 && !s.chars().any(char::is_control))
        .take(MAX_MODELS)
        .map(str::to_owned)
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn listings_of_both_shapes_parse_and_junk_is_dropped() {
        let body =
            br#"{"object":"list","data":[{"id":"b"},{"id":"a"},{"id":"x\u0007y"},{"nope":1}]}"#;
        assert_eq!(super::parse(body), vec!["a".to_owned(), "b".to_owned()]);
        assert_eq!(
            super::parse(br#"{"models":[{"name":"qwen"}]}"#),
            vec!["qwen"]
        );
        assert!(super::parse(b"not json").is_empty());
    }
}
