//! What a model request costs: a price table per model, in US dollars per million tokens,
//! with the cheaper price of input served from the provider's prompt cache.
//!
//! Built-in prices cover the common OpenAI and Anthropic models (list prices as published
//! by the vendors in late 2025; check them against the vendor's pricing page before relying
//! on a figure). `[pricing."model-name"]` in config.toml (`BOTCODER_PRICING`, a JSON object
//! of the same shape) overrides or adds models. A model the table does not know has no
//! cost: nothing is guessed.
//!
//! A model name matches an entry when it is the entry's name or starts with it followed by
//! `-` (dated snapshots such as `gpt-4o-2024-08-06` or `claude-sonnet-4-5-20250929`); the
//! longest such entry wins, so `gpt-4o-mini` is never priced as `gpt-4o`. A `provider/`
//! prefix (`openai/gpt-5`, as proxies name models) is ignored.

use std::collections::BTreeMap;

use serde::Deserialize;

/// Prices of one model, US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Input (prompt) tokens not served from the cache.
    pub input: f64,
    /// Output tokens (reasoning tokens included: they are billed as output).
    pub output: f64,
    /// Input tokens served from the prompt cache; absent: priced as `input`.
    #[serde(default)]
    pub cached_input: Option<f64>,
}

const fn p(input: f64, cached_input: f64, output: f64) -> Price {
    Price {
        input,
        output,
        cached_input: Some(cached_input),
    }
}

/// Built-in list prices (per million tokens): input, cached input, output.
const BUILT_IN: &[(&str, Price)] = &[
    // OpenAI GPT-5 family.
    ("gpt-5", p(1.25, 0.125, 10.0)),
    ("gpt-5-chat-latest", p(1.25, 0.125, 10.0)),
    ("gpt-5-codex", p(1.25, 0.125, 10.0)),
    ("gpt-5-mini", p(0.25, 0.025, 2.0)),
    ("gpt-5-nano", p(0.05, 0.005, 0.40)),
    ("gpt-5-pro", p(15.0, 15.0, 120.0)),
    ("gpt-5.1", p(1.25, 0.125, 10.0)),
    ("gpt-5.1-codex", p(1.25, 0.125, 10.0)),
    ("gpt-5.1-codex-mini", p(0.25, 0.025, 2.0)),
    // OpenAI GPT-4.1 and GPT-4o families.
    ("gpt-4.1", p(2.0, 0.50, 8.0)),
    ("gpt-4.1-mini", p(0.40, 0.10, 1.60)),
    ("gpt-4.1-nano", p(0.10, 0.025, 0.40)),
    ("gpt-4o", p(2.50, 1.25, 10.0)),
    ("gpt-4o-mini", p(0.15, 0.075, 0.60)),
    // OpenAI o-series.
    ("o1", p(15.0, 7.50, 60.0)),
    ("o1-mini", p(1.10, 0.55, 4.40)),
    ("o1-pro", p(150.0, 150.0, 600.0)),
    ("o3", p(2.0, 0.50, 8.0)),
    ("o3-mini", p(1.10, 0.55, 4.40)),
    ("o3-pro", p(20.0, 20.0, 80.0)),
    ("o4-mini", p(1.10, 0.275, 4.40)),
    // Anthropic Claude 4.x (cache reads at a tenth of the input price).
    ("claude-opus-4", p(15.0, 1.50, 75.0)),
    ("claude-opus-4-0", p(15.0, 1.50, 75.0)),
    ("claude-opus-4-1", p(15.0, 1.50, 75.0)),
    ("claude-opus-4-5", p(5.0, 0.50, 25.0)),
    ("claude-sonnet-4", p(3.0, 0.30, 15.0)),
    ("claude-sonnet-4-0", p(3.0, 0.30, 15.0)),
    ("claude-sonnet-4-5", p(3.0, 0.30, 15.0)),
    ("claude-haiku-4-5", p(1.0, 0.10, 5.0)),
    ("claude-3-7-sonnet", p(3.0, 0.30, 15.0)),
    ("claude-3-5-haiku", p(0.80, 0.08, 4.0)),
];

/// A price table that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PricingError {
    /// A price is negative or not a number.
    #[error(
        "[pricing.{0:?}]: prices must be finite numbers of dollars per million tokens, at least 0"
    )]
    Negative(String),
}

/// The built-in prices with the configured overrides on top.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PriceTable {
    overrides: BTreeMap<String, Price>,
}

impl PriceTable {
    /// The table with `overrides` (model name → price).
    pub fn new(overrides: BTreeMap<String, Price>) -> Result<PriceTable, PricingError> {
        for (model, price) in &overrides {
            let ok = |v: f64| v.is_finite() && v >= 0.0;
            if !ok(price.input) || !ok(price.output) || !price.cached_input.is_none_or(ok) {
                return Err(PricingError::Negative(model.clone()));
            }
        }
        Ok(PriceTable { overrides })
    }

    /// The price of `model`: the longest matching name among the overrides and the
    /// built-in table, an override winning over a built-in entry of the same name.
    pub fn price(&self, model: &str) -> Option<Price> {
        let model = model.trim();
        // An override named exactly as the model (provider prefix and all) always wins.
        if let Some(price) = self.overrides.get(model) {
            return Some(*price);
        }
        let bare = model.rsplit('/').next().unwrap_or(model);
        let overrides = self.overrides.iter().map(|(k, v)| (k.as_str(), *v));
        best_match(bare, overrides.chain(BUILT_IN.iter().copied()))
    }

    /// What a request cost: `input_tokens` prompt tokens of which `cached_input_tokens` came
    /// from the cache, and `output_tokens` completion tokens. `None` for an unknown model.
    pub fn cost_usd(
        &self,
        model: &str,
        input_tokens: u64,
        cached_input_tokens: Option<u64>,
        output_tokens: u64,
    ) -> Option<f64> {
        let price = self.price(model)?;
        let cached = cached_input_tokens.unwrap_or(0).min(input_tokens);
        let fresh = input_tokens - cached;
        let cached_price = price.cached_input.unwrap_or(price.input);
        let micro = fresh as f64 * price.input
            + cached as f64 * cached_price
            + output_tokens as f64 * price.output;
        Some(micro / 1_000_000.0)
    }
}

/// The longest entry that `model` is, or is a dated/variant name of; of entries equally
/// long, the first.
fn best_match<'a>(model: &str, entries: impl Iterator<Item = (&'a str, Price)>) -> Option<Price> {
    let lower = model.to_ascii_lowercase();
    let mut best: Option<(usize, Price)> = None;
    for (name, price) in entries {
        let name = name.to_ascii_lowercase();
        let matches = lower == name
            || lower
                .strip_prefix(&name)
                .is_some_and(|rest| rest.starts_with('-'));
        if matches && best.is_none_or(|(len, _)| name.len() > len) {
            best = Some((name.len(), price));
        }
    }
    best.map(|(_, price)| price)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use pretty_assertions::assert_eq;

    fn approx(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9)
    }

    #[test]
    fn dated_snapshots_take_the_longest_matching_entry() {
        let t = PriceTable::default();
        assert_eq!(
            t.price("gpt-4o-mini-2024-07-18"),
            Some(p(0.15, 0.075, 0.60))
        );
        assert_eq!(t.price("gpt-4o-2024-08-06"), Some(p(2.50, 1.25, 10.0)));
        assert_eq!(
            t.price("claude-sonnet-4-5-20250929"),
            Some(p(3.0, 0.30, 15.0))
        );
        assert_eq!(t.price("claude-opus-4-5"), Some(p(5.0, 0.50, 25.0)));
        assert_eq!(
            t.price("claude-opus-4-1-20250805"),
            Some(p(15.0, 1.50, 75.0))
        );
        assert_eq!(t.price("openai/gpt-5-mini"), Some(p(0.25, 0.025, 2.0)));
        assert_eq!(t.price("o3-mini"), Some(p(1.10, 0.55, 4.40)));
    }

    #[test]
    fn unknown_models_have_no_cost_and_prefixes_need_a_dash() {
        let t = PriceTable::default();
        assert_eq!(t.price("mock-model"), None);
        assert_eq!(t.price("gpt-50"), None);
        assert_eq!(t.price("o3x"), None);
        assert_eq!(t.cost_usd("llama3.1:8b", 1000, None, 1000), None);
    }

    #[test]
    fn cached_input_is_billed_at_the_cached_price() {
        let t = PriceTable::default();
        // gpt-4o: 1M fresh input $2.50, 1M cached $1.25, 1M output $10.
        let c = t.cost_usd("gpt-4o", 2_000_000, Some(1_000_000), 1_000_000);
        assert!(approx(c, 2.50 + 1.25 + 10.0), "{c:?}");
        // More cached than input (a confused server) never goes negative.
        let c = t.cost_usd("gpt-4o", 100, Some(1000), 0);
        assert!(approx(c, 100.0 * 1.25 / 1e6), "{c:?}");
    }

    #[test]
    fn overrides_win_and_add_models() {
        let t = table(
            r#"{"gpt-4o": {"input": 1, "output": 2}, "my-local": {"input": 0.5, "output": 0.5, "cached_input": 0}}"#,
        )
        .unwrap();
        assert_eq!(
            t.price("gpt-4o-2024-08-06"),
            Some(Price {
                input: 1.0,
                output: 2.0,
                cached_input: None
            })
        );
        // Without a cached price, cached input costs as much as input.
        assert!(approx(
            t.cost_usd("gpt-4o", 1_000_000, Some(500_000), 0),
            1.0
        ));
        assert!(approx(
            t.cost_usd("my-local", 1_000_000, Some(1_000_000), 2_000_000),
            1.0
        ));
        assert!(t.price("gpt-4o-mini").is_some_and(|p| p.input == 0.15));
    }

    #[test]
    fn negative_prices_are_refused() {
        let e = table("{\"m\": {\"input\": -1, \"output\": 1}}").unwrap_err();
        assert_eq!(e, PricingError::Negative("m".into()));
        assert!(e.to_string().contains("dollars per million tokens"), "{e}");
        assert!(table("{\"m\": {\"input\": 1, \"output\": 1, \"cached_input\": -0.5}}").is_err());
    }

    /// The table from a `BOTCODER_PRICING` JSON text (read by `botcoder-config` in use).
    fn table(json: &str) -> Result<PriceTable, PricingError> {
        PriceTable::new(serde_json::from_str(json).unwrap())
    }
}
