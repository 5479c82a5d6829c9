//! The `[context]` settings of compaction: when the oldest part of a conversation is
//! summarised. Read with the other settings here; the compaction itself is `session::compact`.

use botcoder_config::Settings;

/// Compaction settings (`[context]` in config.toml).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompactSettings {
    /// Share of the context window past which the oldest part is summarised
    /// (`BOTCODER_COMPACT_AT`).
    pub compact_at: f64,
    /// The context window in tokens, for every provider (`BOTCODER_CONTEXT_WINDOW`); else
    /// the provider's own (`LOCAL_LLM_CONTEXT` for local servers).
    pub context_window: Option<u64>,
}

impl Default for CompactSettings {
    fn default() -> Self {
        CompactSettings {
            compact_at: 0.85,
            context_window: None,
        }
    }
}

impl CompactSettings {
    /// From `BOTCODER_COMPACT_AT` (a share such as `0.85`, or a percentage such as `85`)
    /// and `BOTCODER_CONTEXT_WINDOW`; what is out of range goes to `problems`.
    pub fn from_settings(settings: &Settings, problems: &mut Vec<String>) -> CompactSettings {
        let mut s = CompactSettings::default();
        match settings.compact_at() {
            v if v > 1.0 && v <= 100.0 => s.compact_at = v / 100.0,
            v if (0.05..=1.0).contains(&v) => s.compact_at = v,
            v => problems.push(format!(
                "BOTCODER_COMPACT_AT={v} must be a share of the context window between 0.05 and 1 (or a percentage up to 100), e.g. 0.85"
            )),
        }
        match settings.context_window() {
            Some(n) if n >= 256 => s.context_window = Some(n),
            Some(n) => problems.push(format!(
                "BOTCODER_CONTEXT_WINDOW={n} is too small: give the model's context window in tokens (at least 256)"
            )),
            None => {}
        }
        s
    }
}
