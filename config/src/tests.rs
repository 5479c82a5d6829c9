use super::*;
use pretty_assertions::assert_eq;

fn layers(file: &str, dotenv: &[(&str, &str)], env: &[(&str, &str)]) -> Layers {
    let own = |v: &[(&str, &str)]| {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
    };
    Layers::from_parts(
        Some((Path::new("/cfg/config.toml"), file)),
        (Path::new("/cfg/.env"), own(dotenv)),
        own(env),
    )
}

#[test]
fn later_layers_win_and_sources_are_kept() {
    let file = "provider = \"work\"\napproval = \"auto\"\nfallback = [\"local\"]\n[providers.work]\nkind = \"openai\"\nmodel = \"gpt-x\"\nkey_env = \"WORK_KEY\"\ntpm = 1000\n";
    let l = layers(
        file,
        &[("OPENAI_MODEL", "from-dotenv")],
        &[("WORK_KEY", "sk-1"), ("BOTCODER_APPROVAL", "ask")],
    );
    assert_eq!(l.file_error, None);
    assert_eq!(l.get("LLM_PROVIDER"), Some("openai"));
    assert_eq!(l.get("LLM_FALLBACK"), Some("local"));
    assert_eq!(l.get("OPENAI_API_KEY"), Some("sk-1"));
    assert_eq!(l.get("LLM_TPM"), Some("1000"));
    assert_eq!(
        (l.get("OPENAI_MODEL"), l.source("OPENAI_MODEL")),
        (
            Some("from-dotenv"),
            Some(&Source::DotEnv("/cfg/.env".into()))
        )
    );
    assert_eq!(
        (l.get("BOTCODER_APPROVAL"), l.source("BOTCODER_APPROVAL")),
        (Some("ask"), Some(&Source::Environment))
    );
    assert_eq!(
        l.source("LLM_PROVIDER"),
        Some(&Source::File("/cfg/config.toml".into()))
    );
}

#[test]
fn a_bad_file_names_its_path_line_and_field_and_keeps_the_good_sections() {
    let l = layers("approval = \"ask\"\nmax_iterations = \"many\"\n", &[], &[]);
    let err = l.file_error.clone().unwrap();
    assert!(err.starts_with("/cfg/config.toml:2:"), "{err}");
    assert!(err.contains("max_iterations"), "{err}");
    assert_eq!(
        l.get("BOTCODER_APPROVAL"),
        Some("ask"),
        "the good key applies"
    );
    let l = layers("[providers.x]\nmodle = \"typo\"\n", &[], &[]);
    let err = l.file_error.unwrap();
    assert!(
        err.starts_with("/cfg/config.toml:2:") && err.contains("modle"),
        "{err}"
    );
    let l = layers(
        "approval = \"auto\"\nprovider = \"mine\"\n[providers.mine]\nkind = \"gpt\"\n",
        &[],
        &[],
    );
    assert!(l.file_error.clone().unwrap().contains("not one of openai"));
    assert_eq!(
        l.get("LLM_PROVIDER"),
        None,
        "the bad provider contributes nothing"
    );
    assert_eq!(l.get("BOTCODER_APPROVAL"), Some("auto"));
    let l = layers("aproval = \"auto\"\n", &[], &[]);
    assert!(l.file_error.unwrap().contains("unknown key `aproval`"));
    let l = layers("[approvals]\ndeny = [\n", &[], &[]);
    assert!(
        l.approvals_lost,
        "a file that does not parse loses the deny rules too"
    );
    let l = layers("approval = \n", &[], &[]);
    assert!(l.file_error.is_some() && !l.approvals_lost);
}

#[test]
fn the_template_parses_and_secrets_are_recognised() {
    let l = layers(TEMPLATE, &[], &[]);
    assert_eq!(l.file_error, None);
    for v in [
        "OPENAI_API_KEY",
        "GITHUB_TOKEN",
        "AWS_SECRET_ACCESS_KEY",
        "BOTSERVER_API_KEY",
    ] {
        assert!(is_secret_var(v), "{v}");
    }
    assert!(!is_secret_var("OPENAI_MODEL"));
    assert!(is_provider_var("OPENAI_API_KEY") && is_provider_var("LLM_PROVIDER"));
    assert!(!is_provider_var("BOTCODER_SANDBOX") && !is_provider_var("OPENAI_WHATEVER"));
    assert!(KNOWN.iter().any(|k| k.name == "LLM_FALLBACK"));
}
