//! The `[context]` settings of compaction: when the oldest part of a conversation is
//! summarised. Read with the other settings here; the compaction itself is `session::compact`.

use super::Env;

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
    /// and `BOTCODER_CONTEXT_WINDOW`; what is wrong goes to `problems`.
    pub fn from_env(env: &Env, problems: &mut Vec<String>) -> CompactSettings {
        let mut s = CompactSettings::default();
        match env.parse::<f64>("BOTCODER_COMPACT_AT") {
            Ok(Some(v)) if v > 1.0 && v <= 100.0 => s.compact_at = v / 100.0,
            Ok(Some(v)) if (0.05..=1.0).contains(&v) => s.compact_at = v,
            Ok(Some(v)) => problems.push(format!(
                "BOTCODER_COMPACT_AT={v} must be a share of the context window between 0.05 and 1 (or a percentage up to 100), e.g. 0.85"
            )),
            Ok(None) => {}
            Err(e) => problems.push(e),
        }
        match env.parse::<u64>("BOTCODER_CONTEXT_WINDOW") {
            Ok(Some(n)) if n >= 256 => s.context_window = Some(n),
            Ok(Some(n)) => problems.push(format!(
                "BOTCODER_CONTEXT_WINDOW={n} is too small: give the model's context window in tokens (at least 256)"
            )),
            Ok(None) => {}
            Err(e) => problems.push(e),
        }
        s
    }
}
