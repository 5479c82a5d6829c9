//! The `[botserver]` settings (`BOTSERVER_*`), read here rather than in `botserver/` so the
//! dependency goes one way: `config` knows the botserver's settings type, the botserver
//! module does not know `config`.

use std::time::Duration;

use botcoder_config::Secret;

use super::Env;
use crate::botserver::BotserverSettings;

/// Reads the settings; `Ok(None)` when no botserver is configured.
pub fn botserver_settings(env: &Env) -> Result<Option<BotserverSettings>, String> {
    let Some(url) = env.get("BOTSERVER_URL") else {
        if env
            .get("LLM_PROVIDER")
            .is_some_and(|p| p.eq_ignore_ascii_case("botserver"))
        {
            return Err("LLM_PROVIDER=botserver needs BOTSERVER_URL: set it to the botserver's address, e.g. http://127.0.0.1:8080".into());
        }
        return Ok(None);
    };
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| format!("BOTSERVER_URL={url:?} is not a valid URL ({e})"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "BOTSERVER_URL={url:?} must start with http:// or https://"
        ));
    }
    let flag = |name: &str, default: bool| -> Result<bool, String> {
        match env.get(name).map(str::to_ascii_lowercase).as_deref() {
            None => Ok(default),
            Some("true" | "1" | "yes") => Ok(true),
            Some("false" | "0" | "no") => Ok(false),
            Some(other) => Err(format!("{name}={other:?} must be true or false")),
        }
    };
    let via_provider = env
        .get("LLM_PROVIDER")
        .is_some_and(|p| p.eq_ignore_ascii_case("botserver"));
    Ok(Some(BotserverSettings {
        url: url.trim_end_matches('/').to_owned(),
        api_key: env.get("BOTSERVER_API_KEY").map(Secret::new),
        facade: via_provider || flag("ENABLE_BOTSERVER_FACADE", false)?,
        fallback_to_local: flag("FALLBACK_TO_LOCAL", true)?,
        probe_interval: Duration::from_millis(
            env.parse::<u64>("BOTSERVER_PROBE_INTERVAL_MS")?
                .unwrap_or(15_000)
                .max(50),
        ),
        ca_file: env.get("BOTSERVER_CA_FILE").map(std::path::PathBuf::from),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_from_env() {
        let none = botserver_settings(&Env::from_pairs([])).unwrap();
        assert!(none.is_none());
        let s = botserver_settings(&Env::from_pairs([
            ("BOTSERVER_URL", "http://b:8080/"),
            ("LLM_PROVIDER", "botserver"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            (s.url.as_str(), s.facade, s.fallback_to_local),
            ("http://b:8080", true, true)
        );
        let err = botserver_settings(&Env::from_pairs([
            ("BOTSERVER_URL", "http://b"),
            ("FALLBACK_TO_LOCAL", "maybe"),
        ]))
        .unwrap_err();
        assert!(err.contains("FALLBACK_TO_LOCAL"));
        let err =
            botserver_settings(&Env::from_pairs([("LLM_PROVIDER", "botserver")])).unwrap_err();
        assert!(err.contains("BOTSERVER_URL"));
    }
}
