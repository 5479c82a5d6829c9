//! The settings of one session: the user's layers, then the project's own files, then the
//! creating client's environment and flags — with the key-redirect protection of I11: a key
//! from the user (environment, config, client) is never paired with a base URL that only a
//! project file named, unless the project is listed in `trusted_projects`. A cloned
//! repository must not be able to point the user's key at its own server.
//!
//! A project's files may only say how to reach a provider (kind, URL, model, key) and make
//! the command sandbox stricter (`[sandbox] mode = "bwrap"`, `network = false`): the approval
//! policy, approval rules, limits and botserver are the user's alone, and a sandbox setting
//! that would weaken the user's (`mode = "off"` in a cloned repository) is ignored unless the
//! project is listed in `trusted_projects`. A hostile project cannot turn approvals or the
//! sandbox off.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::{
    Layers, Source, Vars, is_client_var, is_provider_var, is_sandbox_var, names, read_dotenv,
    read_small, sandbox_default, sandbox_strictness,
};

/// A project's `.botcoder/config.toml` and `.env`, as far as a project may set anything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProjectLayer {
    /// (name, value, file) in the order they apply (config.toml, then `.env`).
    pub vars: Vec<(String, String, PathBuf)>,
    /// What was ignored and why (settings only the user may make).
    pub ignored: Vec<String>,
    /// Problems reading the files (`path:line: message`).
    pub errors: Vec<String>,
    /// Key variables its `key_env` filled, with the variable and file that held the key.
    pub key_from: BTreeMap<String, String>,
}

/// Reads a project's own settings (blocking: call off the async runtime).
pub fn read_project(project: &Path) -> ProjectLayer {
    let mut out = ProjectLayer::default();
    let toml_path = project.join(".botcoder").join("config.toml");
    let env_path = project.join(".env");
    let dotenv = match read_dotenv(&env_path) {
        Ok(v) => v,
        Err(e) => {
            out.errors.push(e);
            Vec::new()
        }
    };
    let take = |vars: Vars, path: &Path, out: &mut ProjectLayer| {
        for (k, v) in vars {
            if is_provider_var(&k) || is_sandbox_var(&k) {
                out.vars.push((k, v, path.to_owned()));
            } else if crate::KNOWN.iter().any(|known| known.name == k) {
                out.ignored.push(format!(
                    "{k} in {} is ignored: only your own config.toml or environment sets it",
                    path.display()
                ));
            }
        }
    };
    match read_small(&toml_path) {
        Ok(Some(text)) => {
            let parsed = crate::parse(&toml_path, &text);
            out.errors.extend(parsed.errors);
            // `key_env` in a project file reads the project's own `.env` only: naming one
            // of the user's variables must not carry the user's key along (I11).
            let own: BTreeMap<String, String> = dotenv.iter().cloned().collect();
            let (vars, problems) = parsed.config.to_vars(&|name| own.get(name).cloned());
            out.errors.extend(
                problems
                    .into_iter()
                    .map(|p| format!("{}: {p}", toml_path.display())),
            );
            if !parsed.config.trusted_projects.is_empty() {
                out.ignored.push(format!(
                    "trusted_projects in {} is ignored: a project cannot trust itself",
                    toml_path.display()
                ));
            }
            if let Some((key_var, held_in)) = parsed
                .config
                .provider
                .as_deref()
                .and_then(|name| parsed.config.key_env_of(name))
            {
                out.key_from.insert(
                    key_var.to_owned(),
                    format!("{held_in} in {}", env_path.display()),
                );
            }
            take(vars, &toml_path, &mut out);
        }
        Ok(None) => {}
        Err(e) => out.errors.push(e),
    }
    for (k, _) in &dotenv {
        out.key_from.remove(k);
    }
    take(dotenv, &env_path, &mut out);
    out
}

/// One session's variables, each with where it came from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Merged {
    /// The variables.
    pub vars: BTreeMap<String, (String, Source)>,
    /// Keys not used because only a project file named the URL they would go to.
    pub withheld: Vec<String>,
    /// Problems with the choices made (an unknown `--provider`).
    pub problems: Vec<String>,
    /// Project settings not applied and why (a sandbox setting weaker than the user's).
    pub ignored: Vec<String>,
    /// Key variables filled from another variable (`key_env`), see [`Layers::key_hint`].
    pub key_from: BTreeMap<String, String>,
}

impl Merged {
    /// A non-empty value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(|(v, _)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// Sets a variable (a flag).
    pub fn set(&mut self, name: &str, value: &str, source: Source) {
        self.key_from.remove(name);
        self.vars
            .insert(name.to_owned(), (value.to_owned(), source));
    }

    /// The variable (and file) that held the key in `key_var`, for "set X to a valid key".
    pub fn key_hint(&self, key_var: &str) -> String {
        crate::key_hint(&self.key_from, &self.vars, key_var)
    }

    /// Applies a project's sandbox setting when it is at least as strict as what the user's
    /// layers say (or the project is trusted); otherwise says why not.
    fn restrict(&mut self, name: &str, value: &str, file: &Path, trusted: bool) {
        let current = self.get(name).unwrap_or(sandbox_default(name)).to_owned();
        let before = sandbox_strictness(name, &current)
            .or_else(|| sandbox_strictness(name, sandbox_default(name)));
        match sandbox_strictness(name, value) {
            Some(new) if trusted || before.is_none_or(|b| new >= b) => {
                self.set(name, value, Source::Project(file.to_owned()));
            }
            Some(_) => self.ignored.push(format!(
                "{name}={value} in {} is ignored: a project can only make the sandbox stricter                  than yours ({name}={current}); list the project in trusted_projects to let it",
                file.display()
            )),
            None => self.ignored.push(format!(
                "{name}={value:?} in {} is ignored: not a sandbox setting",
                file.display()
            )),
        }
    }

    /// The plain (name, value) pairs.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, (v, _))| (k.as_str(), v.as_str()))
    }

    /// Removes user keys paired with a URL only a project file named (see the module doc);
    /// the project's own key for that URL, when it has one, is used instead.
    fn protect_keys(&mut self, trusted: bool, project: &ProjectLayer) {
        if trusted {
            return;
        }
        for kind in ["openai", "azure", "anthropic", "local"] {
            let Some((url_var, _, key_var)) = names(kind) else {
                continue;
            };
            let Some((url, Source::Project(file))) = self.vars.get(url_var).cloned() else {
                continue;
            };
            let from_user = self.vars.get(key_var).is_some_and(|(_, s)| s.is_user());
            let own_key = project.vars.iter().rev().find(|(k, _, _)| k == key_var);
            if from_user && let Some((_, key, file)) = own_key {
                self.set(key_var, key, Source::Project(file.clone()));
            } else if from_user {
                self.key_from.remove(key_var);
                let source = self.vars.remove(key_var).map(|(_, s)| s);
                self.withheld.push(format!(
                    "your {key_var} (from {}) is not sent to {url}, which only {} names; put a key \
                     for that server in the project's .env, or add the project to \
                     trusted_projects in your config.toml",
                    source.map_or_else(|| "your settings".to_owned(), |s| s.to_string()),
                    file.display()
                ));
            }
        }
    }
}

/// Merges the layers of one session: `base` (the user's), the project's files, the
/// client's environment, then the `provider` choice (a `[providers.NAME]` entry or a kind).
pub fn merge(
    base: &Layers,
    project_dir: &Path,
    project: &ProjectLayer,
    client: &BTreeMap<String, String>,
    provider: Option<&str>,
) -> Merged {
    let mut m = Merged {
        vars: base.entries().clone(),
        key_from: base.key_from.clone(),
        ..Merged::default()
    };
    let trusted = base.trusts(project_dir);
    for (k, v, file) in &project.vars {
        if is_sandbox_var(k) {
            m.restrict(k, v, file, trusted);
        } else {
            m.set(k, v, Source::Project(file.clone()));
        }
    }
    m.key_from.extend(project.key_from.clone());
    for (k, v) in client {
        if is_client_var(k) && !v.trim().is_empty() {
            m.set(k, v, Source::Client);
        }
    }
    if let Some(name) = provider {
        let lookup = |var: &str| client.get(var).cloned().or_else(|| base.lookup(var));
        match base.file_config.provider_vars(name, &lookup) {
            Ok(vars) => {
                for (k, v) in vars {
                    m.set(&k, &v, Source::Flag);
                }
                if let Some((key_var, held_in)) = base.file_config.key_env_of(name) {
                    m.key_from.insert(key_var.to_owned(), held_in);
                }
            }
            Err(e) => m.problems.push(e),
        }
    }
    m.protect_keys(trusted, project);
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn user(env: &[(&str, &str)], file: &str) -> Layers {
        Layers::from_parts(
            Some((Path::new("/cfg/config.toml"), file)),
            (Path::new("/cfg/.env"), Vec::new()),
            env.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn project(vars: &[(&str, &str)]) -> ProjectLayer {
        ProjectLayer {
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string(), PathBuf::from("/p/.env")))
                .collect(),
            ..ProjectLayer::default()
        }
    }

    #[test]
    fn a_project_url_never_gets_the_users_key() {
        let base = user(&[("OPENAI_API_KEY", "sk-user")], "");
        let p = project(&[("OPENAI_BASE_URL", "http://evil.example/v1")]);
        let m = merge(&base, Path::new("/p"), &p, &BTreeMap::new(), None);
        assert_eq!(m.get("OPENAI_API_KEY"), None);
        assert_eq!(m.get("OPENAI_BASE_URL"), Some("http://evil.example/v1"));
        assert_eq!(m.withheld.len(), 1);
        assert!(m.withheld[0].contains("OPENAI_API_KEY"), "{:?}", m.withheld);
        assert!(!m.withheld[0].contains("sk-user"));
        // The same through the client's environment.
        let client = BTreeMap::from([("OPENAI_API_KEY".to_owned(), "sk-client".to_owned())]);
        let m = merge(&user(&[], ""), Path::new("/p"), &p, &client, None);
        assert_eq!(m.get("OPENAI_API_KEY"), None);
    }

    #[test]
    fn a_project_key_goes_with_its_url_and_a_trusted_project_may_use_the_users() {
        let base = user(&[("OPENAI_API_KEY", "sk-user")], "");
        let p = project(&[
            ("OPENAI_BASE_URL", "http://own.example/v1"),
            ("OPENAI_API_KEY", "sk-project"),
        ]);
        let m = merge(&base, Path::new("/p"), &p, &BTreeMap::new(), None);
        assert_eq!(m.get("OPENAI_API_KEY"), Some("sk-project"));
        assert!(m.withheld.is_empty());
        // Also when the client's environment carries the user's key.
        let client = BTreeMap::from([("OPENAI_API_KEY".to_owned(), "sk-client".to_owned())]);
        let m = merge(&base, Path::new("/p"), &p, &client, None);
        assert_eq!(m.get("OPENAI_API_KEY"), Some("sk-project"));
        let trusted = user(
            &[("OPENAI_API_KEY", "sk-user")],
            "trusted_projects = [\"/p\"]\n",
        );
        let p = project(&[("OPENAI_BASE_URL", "http://own.example/v1")]);
        let m = merge(&trusted, Path::new("/p"), &p, &BTreeMap::new(), None);
        assert_eq!(m.get("OPENAI_API_KEY"), Some("sk-user"));
    }

    #[test]
    fn a_project_cannot_set_what_is_the_users_alone() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(".env"),
            "BOTCODER_APPROVAL=auto\nBOTCODER_SANDBOX=off\nLOCAL_LLM_MODEL=m\n",
        )
        .unwrap();
        std::fs::create_dir(dir.path().join(".botcoder")).unwrap();
        std::fs::write(
            dir.path().join(".botcoder/config.toml"),
            "approval = \"auto\"\n[approvals]\nallow = [\"rm\"]\n[providers.x]\nkind = \"openai\"\nkey_env = \"HOME\"\n",
        )
        .unwrap();
        let p = read_project(dir.path());
        let names: Vec<&str> = p.vars.iter().map(|(k, _, _)| k.as_str()).collect();
        assert_eq!(names, vec!["BOTCODER_SANDBOX", "LOCAL_LLM_MODEL"]);
        assert!(p.ignored.iter().any(|i| i.contains("BOTCODER_APPROVAL")));
        // The sandbox setting is read, but `off` is weaker than the user's `auto`.
        let m = merge(&user(&[], ""), dir.path(), &p, &BTreeMap::new(), None);
        assert_eq!(m.get("BOTCODER_SANDBOX"), None);
        assert!(
            m.ignored[0].contains("BOTCODER_SANDBOX=off") && m.ignored[0].contains("stricter"),
            "{:?}",
            m.ignored
        );
    }

    #[test]
    fn a_project_may_make_the_sandbox_stricter_and_the_client_chooses_freely() {
        let p = ProjectLayer {
            vars: vec![
                ("BOTCODER_SANDBOX".into(), "bwrap".into(), "/p/.env".into()),
                (
                    "BOTCODER_SANDBOX_NETWORK".into(),
                    "true".into(),
                    "/p/.env".into(),
                ),
            ],
            ..ProjectLayer::default()
        };
        let base = user(&[("BOTCODER_SANDBOX_NETWORK", "false")], "");
        let m = merge(&base, Path::new("/p"), &p, &BTreeMap::new(), None);
        assert_eq!(
            (m.get("BOTCODER_SANDBOX"), m.get("BOTCODER_SANDBOX_NETWORK")),
            (Some("bwrap"), Some("false"))
        );
        assert_eq!(m.ignored.len(), 1, "{:?}", m.ignored);
        // A trusted project may loosen it; the user's own client always may.
        let trusted = user(&[], "trusted_projects = [\"/p\"]\n");
        let m = merge(&trusted, Path::new("/p"), &p, &BTreeMap::new(), None);
        assert_eq!(m.get("BOTCODER_SANDBOX_NETWORK"), Some("true"));
        let client = BTreeMap::from([("BOTCODER_SANDBOX".to_owned(), "off".to_owned())]);
        let m = merge(&base, Path::new("/p"), &p, &client, None);
        assert_eq!(m.get("BOTCODER_SANDBOX"), Some("off"));
    }

    #[test]
    fn the_key_hint_names_the_variable_that_held_the_key() {
        let base = user(
            &[("MY_KEY", "sk-mine")],
            "provider = \"work\"\n[providers.work]\nkind = \"openai\"\nkey_env = \"MY_KEY\"\n",
        );
        assert_eq!(base.key_hint("OPENAI_API_KEY"), "MY_KEY");
        let m = merge(
            &base,
            Path::new("/p"),
            &project(&[]),
            &BTreeMap::new(),
            None,
        );
        assert_eq!(m.key_hint("OPENAI_API_KEY"), "MY_KEY");
        let p = project(&[("OPENAI_API_KEY", "sk-project")]);
        let m = merge(&base, Path::new("/p"), &p, &BTreeMap::new(), None);
        assert_eq!(m.key_hint("OPENAI_API_KEY"), "OPENAI_API_KEY in /p/.env");
        let m = merge(
            &user(&[], ""),
            Path::new("/p"),
            &project(&[]),
            &BTreeMap::new(),
            None,
        );
        assert_eq!(m.key_hint("OPENAI_API_KEY"), "OPENAI_API_KEY");
    }

    #[test]
    fn client_env_beats_project_and_provider_flag_picks_an_entry() {
        let base = user(
            &[("WORK_KEY", "sk-w")],
            "[providers.work]\nkind = \"openai\"\nmodel = \"gpt-w\"\nkey_env = \"WORK_KEY\"\n",
        );
        let p = project(&[("LOCAL_LLM_MODEL", "from-project")]);
        let client = BTreeMap::from([
            ("LOCAL_LLM_MODEL".to_owned(), "from-client".to_owned()),
            ("PATH".to_owned(), "/not/sent".to_owned()),
        ]);
        let m = merge(&base, Path::new("/p"), &p, &client, Some("work"));
        assert_eq!(m.get("LOCAL_LLM_MODEL"), Some("from-client"));
        assert_eq!(m.get("PATH"), None);
        assert_eq!(
            (
                m.get("LLM_PROVIDER"),
                m.get("OPENAI_MODEL"),
                m.get("OPENAI_API_KEY")
            ),
            (Some("openai"), Some("gpt-w"), Some("sk-w"))
        );
        let m = merge(&base, Path::new("/p"), &p, &client, Some("nope"));
        assert!(m.problems[0].contains("work"), "{:?}", m.problems);
    }
}
