//! The `[botserver]` settings (`BOTSERVER_*`), read here rather than in `botserver/` so the
//! dependency goes one way: `config` knows the botserver's settings type, the botserver
//! module does not know `config`.

use std::time::Duration;

use botcoder_config::Settings;
use botcoder_config::settings::ProviderChoice;

use crate::botserver::BotserverSettings;

/// Reads the settings; `Ok(None)` when no botserver is configured.
pub fn botserver_settings(s: &Settings) -> Result<Option<BotserverSettings>, String> {
    let via_provider = s.provider() == Some(ProviderChoice::Botserver);
    let Some(url) = s.botserver_url() else {
        if via_provider {
            return Err("LLM_PROVIDER=botserver needs BOTSERVER_URL: set it to the botserver's address, e.g. http://127.0.0.1:8080".into());
        }
        return Ok(None);
    };
    let parsed = reqwest::Url::parse(&url)
        .map_err(|e| format!("BOTSERVER_URL={url:?} is not a valid URL ({e})"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "BOTSERVER_URL={url:?} must start with http:// or https://"
        ));
    }
    // A flag that did not read must not silently become its default.
    if let Some(p) = s.problems.iter().find(|p| {
        matches!(
            p.var,
            "ENABLE_BOTSERVER_FACADE" | "FALLBACK_TO_LOCAL" | "BOTSERVER_PROBE_INTERVAL_MS"
        )
    }) {
        return Err(p.message.clone());
    }
    Ok(Some(BotserverSettings {
        url: url.trim_end_matches('/').to_owned(),
        api_key: s.botserver_key(),
        facade: via_provider || s.botserver_facade(),
        fallback_to_local: s.fallback_to_local(),
        probe_interval: Duration::from_millis(s.botserver_probe_interval_ms().max(50)),
        ca_file: s.botserver_ca_file().map(std::path::PathBuf::from),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use botcoder_config::Source;

    fn env(pairs: &[(&str, &str)]) -> Settings {
        Settings::from_vars(pairs.iter().copied(), &Source::Environment)
    }

    #[test]
    fn settings_from_env() {
        let none = botserver_settings(&env(&[])).unwrap();
        assert!(none.is_none());
        let s = botserver_settings(&env(&[
            ("BOTSERVER_URL", "http://b:8080/"),
            ("LLM_PROVIDER", "botserver"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            (s.url.as_str(), s.facade, s.fallback_to_local),
            ("http://b:8080", true, true)
        );
        let err = botserver_settings(&env(&[
            ("BOTSERVER_URL", "http://b"),
            ("FALLBACK_TO_LOCAL", "maybe"),
        ]))
        .unwrap_err();
        assert!(err.contains("FALLBACK_TO_LOCAL"));
        let err = botserver_settings(&env(&[("LLM_PROVIDER", "botserver")])).unwrap_err();
        assert!(err.contains("BOTSERVER_URL"));
    }
}
