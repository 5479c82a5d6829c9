//! A `config.toml` as a settings layer: its typed values go straight into their fields (a
//! number stays a number), and `[providers.NAME]` with `key_env` becomes a [`Secret`]
//! whose source says which variable held it. A value of the wrong kind (an unknown
//! `approval`, a provider that is not defined) is a problem of its variable alone.

use std::path::{Path, PathBuf};

use super::{Fallback, Field, Prices, Problem, ProviderChoice, ProviderKind, RuleList, Settings};
use super::{Value, WireFormat};
use crate::file::FileConfig;
use crate::{Secret, Source};

/// Reads a variable named by `key_env`: its value and the layer that held it.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<(String, Source)>;

fn put<T>(slot: &mut Option<Field<T>>, value: Option<T>, source: &Source) {
    if let Some(value) = value {
        *slot = Some(Field {
            value,
            source: source.clone(),
        });
    }
}

/// A name from the file read as one of the names of `T`; a wrong one is a problem.
fn named<T: Value>(
    s: &mut Settings,
    var: &'static str,
    key: &str,
    path: &Path,
    value: Option<&String>,
) -> Option<T> {
    let v = value?;
    match T::from_env(v.trim()) {
        Ok(t) => Some(t),
        Err(e) => {
            s.problems.push(Problem {
                var,
                message: format!("{}: {key} = {v:?} {e}", path.display()),
            });
            None
        }
    }
}

/// The file a source names, for messages.
fn path_of(source: &Source) -> PathBuf {
    match source {
        Source::File(p) | Source::Project(p) => p.clone(),
        _ => PathBuf::from("config.toml"),
    }
}

fn secret_from(var: &str, lookup: Lookup<'_>) -> Option<Field<Secret>> {
    lookup(var).map(|(value, from)| Field {
        value: Secret::new(value),
        source: Source::Via {
            var: var.to_owned(),
            from: Box::new(from),
        },
    })
}

impl FileConfig {
    /// This file as a settings layer from `source` (the user's file or a project's).
    /// `lookup` reads the variables `key_env` names.
    pub fn settings(&self, source: &Source, lookup: Lookup<'_>) -> Settings {
        let src = source.clone();
        let path = &path_of(source);
        let mut s = Settings::default();
        if let Some(name) = &self.provider {
            match self.provider_settings(name, &src, lookup) {
                Ok(p) => s.over(&p),
                Err(e) => s.problems.push(Problem {
                    var: "LLM_PROVIDER",
                    message: format!("{}: {e}", path.display()),
                }),
            }
        }
        if let Some(list) = &self.fallback {
            let kinds: Vec<Option<ProviderKind>> = list
                .iter()
                .map(|name| named(&mut s, "LLM_FALLBACK", "fallback", path, Some(name)))
                .collect();
            // One name that is not a provider leaves the whole list out: continuing on
            // part of what was asked for would surprise more than an error.
            if let Some(kinds) = kinds.into_iter().collect::<Option<Vec<_>>>() {
                put(&mut s.fallback, Some(Fallback(kinds)), &src);
            }
        }
        let approval = named(
            &mut s,
            "BOTCODER_APPROVAL",
            "approval",
            path,
            self.approval.as_ref(),
        );
        put(&mut s.approval, approval, &src);
        let mode = named(
            &mut s,
            "BOTCODER_TOOL_MODE",
            "tool_mode",
            path,
            self.tool_mode.as_ref(),
        );
        put(&mut s.tool_mode, mode, &src);
        put(&mut s.max_iterations, self.max_iterations, &src);
        put(&mut s.max_retries, self.max_retries, &src);
        put(&mut s.idle_timeout_s, self.idle_timeout_s, &src);
        put(&mut s.log, self.log.clone(), &src);
        if let Some(a) = &self.approvals {
            put(
                &mut s.approvals_allow,
                Some(RuleList(a.allow.clone())),
                &src,
            );
            put(&mut s.approvals_deny, Some(RuleList(a.deny.clone())), &src);
        }
        if let Some(l) = &self.limits {
            put(&mut s.max_sse_event_bytes, l.sse_event_bytes, &src);
            put(&mut s.max_reply_bytes, l.reply_bytes, &src);
            put(&mut s.max_tool_args_bytes, l.tool_args_bytes, &src);
            put(&mut s.max_tool_calls, l.tool_calls, &src);
        }
        if let Some(c) = &self.context {
            put(&mut s.compact_at, c.compact_at, &src);
            put(&mut s.context_window, c.window, &src);
        }
        if !self.pricing.is_empty() {
            put(&mut s.pricing, Some(Prices(self.pricing.clone())), &src);
        }
        if let Some(sb) = &self.sandbox {
            let mode = named(
                &mut s,
                "BOTCODER_SANDBOX",
                "[sandbox] mode",
                path,
                sb.mode.as_ref(),
            );
            put(&mut s.sandbox, mode, &src);
            put(&mut s.sandbox_network, sb.network, &src);
        }
        if let Some(b) = &self.botserver {
            put(&mut s.botserver_url, b.url.clone(), &src);
            put(&mut s.botserver_facade, b.facade, &src);
            put(&mut s.fallback_to_local, b.fallback_to_local, &src);
            put(&mut s.botserver_ca_file, b.ca_file.clone(), &src);
            if let Some(var) = &b.key_env {
                s.botserver_key = secret_from(var, lookup);
            }
        }
        s
    }

    /// The settings that select provider `name`, from `source`: a `[providers.NAME]`
    /// entry (its URL, model, limits and the key its `key_env` names), or just a kind.
    pub fn provider_settings(
        &self,
        name: &str,
        source: &Source,
        lookup: Lookup<'_>,
    ) -> Result<Settings, String> {
        let entry = self.providers.get(name);
        let kind_name = entry
            .and_then(|e| e.kind.clone())
            .unwrap_or_else(|| name.to_owned());
        let Some(kind) = ProviderKind::parse(&kind_name) else {
            let mut known: Vec<&str> = self.providers.keys().map(String::as_str).collect();
            known.extend(["openai", "azure", "anthropic", "local"]);
            return Err(format!(
                "provider {name:?} is neither a [providers.NAME] entry nor a kind; use one of {}",
                known.join(", ")
            ));
        };
        let mut s = Settings::default();
        put(&mut s.provider, Some(ProviderChoice::Kind(kind)), source);
        let Some(e) = entry else {
            return Ok(s);
        };
        let url = match kind {
            ProviderKind::OpenAi => &mut s.openai_url,
            ProviderKind::Azure => &mut s.azure_endpoint,
            ProviderKind::Anthropic => &mut s.anthropic_url,
            ProviderKind::Local => &mut s.local_url,
        };
        put(url, e.url.clone(), source);
        let model = if kind == ProviderKind::Azure {
            e.deployment.clone().or(e.model.clone())
        } else {
            e.model.clone()
        };
        put(s.model_of_mut(kind), model, source);
        if kind == ProviderKind::Azure {
            put(&mut s.azure_api_version, e.api_version.clone(), source);
        }
        put(&mut s.local_context, e.context, source);
        put(&mut s.tpm, e.tpm, source);
        put(&mut s.rpm, e.rpm, source);
        let path = path_of(source);
        let key = format!("[providers.{name}] wire");
        let (wire_var, effort) = if kind == ProviderKind::Local {
            ("LOCAL_LLM_WIRE", &mut s.local_reasoning_effort)
        } else {
            ("OPENAI_WIRE", &mut s.openai_reasoning_effort)
        };
        put(effort, e.reasoning_effort.clone(), source);
        let wire = named::<WireFormat>(&mut s, wire_var, &key, &path, e.wire.as_ref());
        let slot = if kind == ProviderKind::Local {
            &mut s.local_wire
        } else {
            &mut s.openai_wire
        };
        put(slot, wire, source);
        put(
            &mut s.anthropic_thinking_budget,
            e.thinking_budget
                .map(|b| u32::try_from(b).unwrap_or(u32::MAX)),
            source,
        );
        if let Some(var) = &e.key_env {
            let Some(key) = secret_from(var, lookup) else {
                return Err(format!(
                    "provider {name:?}: key_env names {var}, which is not set; export it in \
                     the daemon's environment (systemd: an EnvironmentFile=) or put it in the \
                     .env next to config.toml"
                ));
            };
            *s.key_of_mut(kind) = Some(key);
        }
        Ok(s)
    }
}
