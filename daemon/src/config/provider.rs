//! Which provider to use, from `LLM_PROVIDER` or from whichever credentials are present.

use std::time::Duration;

use super::{Env, Secret};
use crate::llm::openai::OpenAiConfig;

/// A fully specified provider, ready to build.
#[derive(Debug, Clone)]
pub enum ProviderSpec {
    /// OpenAI chat completions (OpenAI or an OpenAI-compatible local server).
    OpenAi(OpenAiConfig),
}

const NONE_CONFIGURED: &str = "no LLM provider is configured: set OPENAI_API_KEY (and optionally \
OPENAI_MODEL, OPENAI_BASE_URL) for OpenAI, or LOCAL_LLM_URL and LOCAL_LLM_MODEL for a local \
OpenAI-compatible server such as Ollama or llama.cpp; LLM_PROVIDER picks one explicitly. \
Put them in the daemon's environment or a .env file, then restart it with `botcoder daemon stop`";

/// The provider named by `LLM_PROVIDER`, else the first whose settings are present
/// (azure, anthropic, openai, local). `Err` holds a message naming what to set.
pub fn select_provider(env: &Env, idle_timeout: Duration) -> Result<ProviderSpec, String> {
    let name = match env.get("LLM_PROVIDER").map(str::to_ascii_lowercase) {
        Some(n) => n,
        None if env.get("OPENAI_API_KEY").is_some() => "openai".to_owned(),
        None if env.get("LOCAL_LLM_URL").is_some() || env.get("LOCAL_LLM_MODEL").is_some() => {
            "local".to_owned()
        }
        None => return Err(NONE_CONFIGURED.to_owned()),
    };
    match name.as_str() {
        "openai" => openai(env, idle_timeout).map(ProviderSpec::OpenAi),
        "local" => local(env, idle_timeout).map(ProviderSpec::OpenAi),
        "azure" | "anthropic" | "botserver" => Err(format!(
            "LLM_PROVIDER={name} is not supported by this build yet; use openai or local"
        )),
        other => Err(format!(
            "LLM_PROVIDER={other:?} is not a provider; use one of openai, azure, anthropic, local, botserver"
        )),
    }
}

fn openai(env: &Env, idle_timeout: Duration) -> Result<OpenAiConfig, String> {
    let key = env
        .get("OPENAI_API_KEY")
        .ok_or("LLM_PROVIDER=openai needs OPENAI_API_KEY: set it to your OpenAI API key")?;
    Ok(OpenAiConfig {
        name: "openai".into(),
        base_url: base_url(env, "OPENAI_BASE_URL", "https://api.openai.com/v1")?,
        model: env.get("OPENAI_MODEL").unwrap_or("gpt-4o-mini").to_owned(),
        api_key: Some(Secret::new(key)),
        key_var: "OPENAI_API_KEY",
        model_var: "OPENAI_MODEL",
        context_window: None,
        idle_timeout,
    })
}

fn local(env: &Env, idle_timeout: Duration) -> Result<OpenAiConfig, String> {
    Ok(OpenAiConfig {
        name: "local".into(),
        base_url: base_url(env, "LOCAL_LLM_URL", "http://127.0.0.1:11434/v1")?,
        // llama.cpp serves whatever it loaded under any name; Ollama needs the real one.
        model: env.get("LOCAL_LLM_MODEL").unwrap_or("default").to_owned(),
        api_key: env.get("LOCAL_LLM_API_KEY").map(Secret::new),
        key_var: "LOCAL_LLM_API_KEY",
        model_var: "LOCAL_LLM_MODEL",
        context_window: env.parse::<u64>("LOCAL_LLM_CONTEXT")?,
        idle_timeout,
    })
}

fn base_url(env: &Env, var: &str, default: &str) -> Result<String, String> {
    let raw = env.get(var).unwrap_or(default);
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
            &Env::from_pairs(pairs.iter().copied()),
            Duration::from_secs(60),
        )
    }

    #[test]
    fn nothing_configured_names_the_variables() {
        let err = pick(&[]).unwrap_err();
        for var in [
            "OPENAI_API_KEY",
            "LOCAL_LLM_URL",
            "LOCAL_LLM_MODEL",
            "LLM_PROVIDER",
        ] {
            assert!(err.contains(var), "{var} missing from: {err}");
        }
    }

    #[test]
    fn credentials_pick_the_provider() {
        let ProviderSpec::OpenAi(c) = pick(&[("OPENAI_API_KEY", "k")]).unwrap();
        assert_eq!(
            (c.name.as_str(), c.base_url.as_str()),
            ("openai", "https://api.openai.com/v1")
        );
        let ProviderSpec::OpenAi(c) = pick(&[("LOCAL_LLM_MODEL", "qwen")]).unwrap();
        assert_eq!((c.name.as_str(), c.model.as_str()), ("local", "qwen"));
        assert_eq!(c.base_url, "http://127.0.0.1:11434/v1");
        // openai wins over local when both are present.
        let ProviderSpec::OpenAi(c) =
            pick(&[("LOCAL_LLM_URL", "http://x/v1"), ("OPENAI_API_KEY", "k")]).unwrap();
        assert_eq!(c.name, "openai");
    }

    #[test]
    fn wrong_settings_name_the_variable() {
        let err = pick(&[("LLM_PROVIDER", "openai")]).unwrap_err();
        assert!(err.contains("OPENAI_API_KEY"), "{err}");
        let err = pick(&[("LLM_PROVIDER", "gpt")]).unwrap_err();
        assert!(err.contains("LLM_PROVIDER"), "{err}");
        let err = pick(&[("LOCAL_LLM_URL", "not a url")]).unwrap_err();
        assert!(err.contains("LOCAL_LLM_URL"), "{err}");
        let err = pick(&[("LOCAL_LLM_URL", "ftp://x")]).unwrap_err();
        assert!(err.contains("LOCAL_LLM_URL"), "{err}");
        let err = pick(&[("LOCAL_LLM_MODEL", "m"), ("LOCAL_LLM_CONTEXT", "big")]).unwrap_err();
        assert!(err.contains("LOCAL_LLM_CONTEXT"), "{err}");
    }
}
