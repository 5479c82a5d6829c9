//! Which provider to use, from `LLM_PROVIDER` or from whichever credentials are present,
//! built from the typed settings of each provider kind.

use std::sync::Arc;
use std::time::Duration;

use botcoder_config::Settings;
use botcoder_config::settings::{Field, ProviderKind, WireFormat};

use super::Secret;
use crate::llm::anthropic::AnthropicConfig;
use crate::llm::openai::{OpenAiAuth, OpenAiConfig, OpenAiProvider, Wire};

/// A fully specified provider, ready to build.
#[derive(Debug, Clone)]
pub enum ProviderSpec {
    /// OpenAI chat completions (OpenAI, Azure OpenAI, or an OpenAI-compatible local server).
    OpenAi(OpenAiConfig),
    /// Anthropic Messages.
    Anthropic(AnthropicConfig),
}

/// Builds the provider a spec describes (here, beside [`ProviderSpec`], so that `config`
/// does not import `server`).
pub(crate) fn build_provider(
    spec: &ProviderSpec,
    limiter: &Arc<crate::ratelimit::RateLimiter>,
    limits: crate::llm::ProviderLimits,
) -> Result<Arc<dyn crate::llm::LlmProvider>, String> {
    let http = crate::llm::http_client()?;
    let observer = |name: &str, base: &str| crate::llm::HeaderObserver {
        limiter: limiter.clone(),
        key: crate::llm::endpoint_key(name, base),
    };
    Ok(match spec {
        ProviderSpec::OpenAi(cfg) => {
            let o = observer(&cfg.name, &cfg.base_url);
            Arc::new(
                OpenAiProvider::new(cfg.clone(), http)
                    .with_observer(o)
                    .with_limits(limits),
            )
        }
        ProviderSpec::Anthropic(cfg) => {
            let o = observer("anthropic", &cfg.base_url);
            Arc::new(
                crate::llm::anthropic::AnthropicProvider::new(cfg.clone(), http)
                    .with_observer(o)
                    .with_limits(limits),
            )
        }
    })
}

const NONE_CONFIGURED: &str = "no LLM provider is configured for this session\n\
set OPENAI_API_KEY, ANTHROPIC_API_KEY, LOCAL_LLM_URL and LOCAL_LLM_MODEL (Ollama, llama.cpp), or \
AZURE_OPENAI_API_KEY, AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_DEPLOYMENT\n\
in your shell, the project's .env or config.toml (`botcoder config init`); LLM_PROVIDER picks one";

/// The provider named by `LLM_PROVIDER`, else the first whose settings are present
/// (azure, anthropic, openai, local). `LLM_PROVIDER=botserver` means the botserver facade
/// with the local provider chosen as if `LLM_PROVIDER` were unset. `Err` names what to set.
pub fn select_provider(s: &Settings, idle_timeout: Duration) -> Result<ProviderSpec, String> {
    if let Some(p) = s.problems.iter().find(|p| p.var == "LLM_PROVIDER") {
        return Err(p.message.clone());
    }
    let kind = s.kind().ok_or_else(|| NONE_CONFIGURED.to_owned())?;
    provider_by_name(s, kind, idle_timeout)
}

/// The providers named by `LLM_FALLBACK`, to continue on when the active one is
/// unavailable after retries.
pub fn fallback_providers(
    s: &Settings,
    idle_timeout: Duration,
) -> Result<Vec<ProviderSpec>, String> {
    if let Some(p) = s.problems.iter().find(|p| p.var == "LLM_FALLBACK") {
        return Err(p.message.clone());
    }
    s.fallback()
        .map(|f| f.0)
        .unwrap_or_default()
        .into_iter()
        .map(|kind| {
            provider_by_name(s, kind, idle_timeout).map_err(|e| format!("LLM_FALLBACK: {e}"))
        })
        .collect()
}

/// One provider by kind, from its settings. A setting of that kind that did not read
/// (`OPENAI_WIRE=soap`) fails it, with that message, rather than run on something else.
pub fn provider_by_name(
    s: &Settings,
    kind: ProviderKind,
    idle_timeout: Duration,
) -> Result<ProviderSpec, String> {
    let wrong: Vec<&str> = s
        .problems_of(kind)
        .into_iter()
        .filter(|p| p.var != "LLM_PROVIDER")
        .map(|p| p.message.as_str())
        .collect();
    if !wrong.is_empty() {
        return Err(wrong.join("; "));
    }
    match kind {
        ProviderKind::OpenAi => openai(s, idle_timeout).map(ProviderSpec::OpenAi),
        ProviderKind::Azure => azure(s, idle_timeout).map(ProviderSpec::OpenAi),
        ProviderKind::Anthropic => anthropic(s, idle_timeout).map(ProviderSpec::Anthropic),
        ProviderKind::Local => local(s, idle_timeout).map(ProviderSpec::OpenAi),
    }
}

fn key(field: &Option<Field<Secret>>) -> Option<Secret> {
    field.as_ref().map(|f| f.value.clone())
}

fn openai(s: &Settings, idle_timeout: Duration) -> Result<OpenAiConfig, String> {
    let key = key(&s.openai_key)
        .ok_or("LLM_PROVIDER=openai needs OPENAI_API_KEY: set it to your OpenAI API key")?;
    let base = base_url(
        &s.openai_url(),
        "OPENAI_BASE_URL",
        "https://api.openai.com/v1",
    )?;
    let url = OpenAiProvider::chat_url(&base);
    Ok(OpenAiConfig {
        name: "openai".into(),
        wire: wire(s.openai_wire(), "openai", &url),
        reasoning_effort: s.openai_reasoning_effort(),
        url,
        base_url: base,
        model: s.openai_model(),
        auth: OpenAiAuth::Bearer(key),
        key_var: s.key_hint(ProviderKind::OpenAi),
        model_var: "OPENAI_MODEL",
        context_window: Some(128_000),
        idle_timeout,
    })
}

fn azure(s: &Settings, idle_timeout: Duration) -> Result<OpenAiConfig, String> {
    let need = |v: Option<String>, var: &str, what: &str| {
        v.ok_or(format!("LLM_PROVIDER=azure needs {var}: set it to {what}"))
    };
    let key = key(&s.azure_key).ok_or(
        "LLM_PROVIDER=azure needs AZURE_OPENAI_API_KEY: set it to your Azure OpenAI resource key",
    )?;
    let endpoint = need(
        s.azure_endpoint(),
        "AZURE_OPENAI_ENDPOINT",
        "your resource endpoint, e.g. https://NAME.openai.azure.com",
    )?;
    let endpoint = base_url(
        &endpoint,
        "AZURE_OPENAI_ENDPOINT",
        "https://NAME.openai.azure.com",
    )?;
    let deployment = need(
        s.azure_deployment(),
        "AZURE_OPENAI_DEPLOYMENT",
        "the name of your model deployment",
    )?;
    let version = s.azure_api_version();
    let url = if version.eq_ignore_ascii_case("v1") {
        format!("{endpoint}/openai/v1/chat/completions")
    } else {
        format!("{endpoint}/openai/deployments/{deployment}/chat/completions?api-version={version}")
    };
    Ok(OpenAiConfig {
        name: "azure".into(),
        wire: wire(s.openai_wire(), "azure", &url),
        reasoning_effort: s.openai_reasoning_effort(),
        base_url: endpoint,
        url,
        model: deployment,
        auth: OpenAiAuth::ApiKeyHeader(key),
        key_var: s.key_hint(ProviderKind::Azure),
        model_var: "AZURE_OPENAI_DEPLOYMENT",
        context_window: Some(128_000),
        idle_timeout,
    })
}

fn anthropic(s: &Settings, idle_timeout: Duration) -> Result<AnthropicConfig, String> {
    let api_key = key(&s.anthropic_key).ok_or(
        "LLM_PROVIDER=anthropic needs ANTHROPIC_API_KEY: set it to your Anthropic API key",
    )?;
    Ok(AnthropicConfig {
        base_url: base_url(
            &s.anthropic_url(),
            "ANTHROPIC_BASE_URL",
            "https://api.anthropic.com",
        )?,
        model: s.anthropic_model(),
        api_key,
        max_tokens: s.anthropic_max_tokens(),
        thinking_budget: s.anthropic_thinking_budget().filter(|b| *b > 0),
        context_window: Some(200_000),
        idle_timeout,
        key_var: s.key_hint(ProviderKind::Anthropic),
    })
}

fn local(s: &Settings, idle_timeout: Duration) -> Result<OpenAiConfig, String> {
    let base = base_url(&s.local_url(), "LOCAL_LLM_URL", "http://127.0.0.1:11434/v1")?;
    let url = OpenAiProvider::chat_url(&base);
    Ok(OpenAiConfig {
        name: "local".into(),
        wire: wire(s.local_wire(), "local", &url),
        reasoning_effort: s.local_reasoning_effort(),
        url,
        base_url: base,
        // llama.cpp serves whatever it loaded under any name; Ollama needs the real one.
        model: s.local_model(),
        auth: match key(&s.local_key) {
            Some(k) => OpenAiAuth::Bearer(k),
            None => OpenAiAuth::None,
        },
        key_var: s.key_hint(ProviderKind::Local),
        model_var: "LOCAL_LLM_MODEL",
        context_window: s.local_context(),
        idle_timeout,
    })
}

/// The wire that was set, else the default for the provider kind and URL.
fn wire(set: Option<WireFormat>, kind: &str, url: &str) -> Wire {
    match set {
        None => Wire::default_for(kind, url),
        Some(WireFormat::Chat) => Wire::Chat,
        Some(WireFormat::Responses) => Wire::Responses,
    }
}

fn base_url(raw: &str, var: &str, default: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(raw)
        .map_err(|e| format!("{var}={raw:?} is not a valid URL ({e}); expected e.g. {default}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{var}={raw:?} must start with http:// or https://"));
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(pairs: &[(&str, &str)]) -> Result<ProviderSpec, String> {
        select_provider(
            &Settings::from_vars(pairs.iter().copied(), &botcoder_config::Source::Environment),
            Duration::from_secs(60),
        )
    }

    fn openai_cfg(spec: ProviderSpec) -> OpenAiConfig {
        match spec {
            ProviderSpec::OpenAi(c) => c,
            other => panic!("not an OpenAI-format provider: {other:?}"),
        }
    }

    #[test]
    fn nothing_configured_names_the_variables() {
        let err = pick(&[]).unwrap_err();
        for var in [
            "OPENAI_API_KEY",
            "ANTHROPIC_API_KEY",
            "AZURE_OPENAI_API_KEY",
            "LOCAL_LLM_URL",
            "LOCAL_LLM_MODEL",
            "LLM_PROVIDER",
        ] {
            assert!(err.contains(var), "{var} missing from: {err}");
        }
    }

    #[test]
    fn credentials_pick_the_provider_in_order_azure_anthropic_openai_local() {
        let c = openai_cfg(pick(&[("OPENAI_API_KEY", "k")]).unwrap());
        assert_eq!(
            (c.name.as_str(), c.url.as_str()),
            ("openai", "https://api.openai.com/v1/chat/completions")
        );
        let c = openai_cfg(pick(&[("LOCAL_LLM_MODEL", "qwen")]).unwrap());
        assert_eq!(
            (c.name.as_str(), c.model.as_str(), c.auth.clone()),
            ("local", "qwen", OpenAiAuth::None)
        );
        let c =
            openai_cfg(pick(&[("LOCAL_LLM_URL", "http://x/v1"), ("OPENAI_API_KEY", "k")]).unwrap());
        assert_eq!(c.name, "openai");
        assert!(matches!(
            pick(&[("OPENAI_API_KEY", "k"), ("ANTHROPIC_API_KEY", "a")]).unwrap(),
            ProviderSpec::Anthropic(_)
        ));
        let both = [
            ("ANTHROPIC_API_KEY", "a"),
            ("AZURE_OPENAI_API_KEY", "z"),
            ("AZURE_OPENAI_ENDPOINT", "https://r.openai.azure.com"),
            ("AZURE_OPENAI_DEPLOYMENT", "d"),
        ];
        assert_eq!(openai_cfg(pick(&both).unwrap()).name, "azure");
        // botserver: the local provider is chosen as if LLM_PROVIDER were unset.
        assert_eq!(
            openai_cfg(pick(&[("LLM_PROVIDER", "botserver"), ("OPENAI_API_KEY", "k")]).unwrap())
                .name,
            "openai"
        );
    }

    #[test]
    fn azure_urls_for_both_surfaces() {
        let base = [
            ("LLM_PROVIDER", "azure"),
            ("AZURE_OPENAI_API_KEY", "z"),
            ("AZURE_OPENAI_ENDPOINT", "https://r.openai.azure.com/"),
            ("AZURE_OPENAI_DEPLOYMENT", "gpt4o"),
        ];
        let c = openai_cfg(pick(&base).unwrap());
        assert_eq!(
            c.url,
            format!(
                "https://r.openai.azure.com/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21"
            )
        );
        assert_eq!(c.auth, OpenAiAuth::ApiKeyHeader(Secret::new("z")));
        let mut v1 = base.to_vec();
        v1.push(("AZURE_OPENAI_API_VERSION", "v1"));
        let c = openai_cfg(pick(&v1).unwrap());
        assert_eq!(
            (c.url.as_str(), c.model.as_str()),
            (
                "https://r.openai.azure.com/openai/v1/chat/completions",
                "gpt4o"
            )
        );
        let err = pick(&base[..3]).unwrap_err();
        assert!(err.contains("AZURE_OPENAI_DEPLOYMENT"), "{err}");
    }

    #[test]
    fn wire_defaults_to_responses_only_on_openai_and_can_be_set() {
        let c = openai_cfg(pick(&[("OPENAI_API_KEY", "k")]).unwrap());
        assert_eq!(c.wire, Wire::Responses);
        let proxy = [
            ("OPENAI_API_KEY", "k"),
            ("OPENAI_BASE_URL", "http://proxy/v1"),
        ];
        assert_eq!(openai_cfg(pick(&proxy).unwrap()).wire, Wire::Chat);
        let set = [
            ("OPENAI_API_KEY", "k"),
            ("OPENAI_WIRE", "chat"),
            ("OPENAI_REASONING_EFFORT", "low"),
        ];
        let c = openai_cfg(pick(&set).unwrap());
        assert_eq!(
            (c.wire, c.reasoning_effort.as_deref()),
            (Wire::Chat, Some("low"))
        );
        let local = [("LOCAL_LLM_MODEL", "m"), ("LOCAL_LLM_WIRE", "responses")];
        assert_eq!(openai_cfg(pick(&local).unwrap()).wire, Wire::Responses);
        let err = pick(&[("OPENAI_API_KEY", "k"), ("OPENAI_WIRE", "soap")]).unwrap_err();
        assert!(
            err.contains("OPENAI_WIRE") && err.contains("responses"),
            "{err}"
        );
    }

    #[test]
    fn wrong_settings_name_the_variable() {
        for (pairs, var) in [
            (vec![("LLM_PROVIDER", "openai")], "OPENAI_API_KEY"),
            (vec![("LLM_PROVIDER", "anthropic")], "ANTHROPIC_API_KEY"),
            (vec![("LLM_PROVIDER", "azure")], "AZURE_OPENAI_API_KEY"),
            (vec![("LLM_PROVIDER", "gpt")], "LLM_PROVIDER"),
            (vec![("LOCAL_LLM_URL", "not a url")], "LOCAL_LLM_URL"),
            (vec![("LOCAL_LLM_URL", "ftp://x")], "LOCAL_LLM_URL"),
            (
                vec![("LOCAL_LLM_MODEL", "m"), ("LOCAL_LLM_CONTEXT", "big")],
                "LOCAL_LLM_CONTEXT",
            ),
        ] {
            let err = pick(&pairs).unwrap_err();
            assert!(err.contains(var), "{var}: {err}");
        }
    }
}
