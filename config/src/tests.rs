use super::*;
use crate::settings::{ProviderChoice, ProviderKind};
use botcoder_protocol::ApprovalPolicy;
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

fn file_source() -> Source {
    Source::File("/cfg/config.toml".into())
}

#[test]
fn later_layers_win_and_sources_are_kept() {
    let file = "provider = \"work\"\napproval = \"auto\"\nfallback = [\"local\"]\n[providers.work]\nkind = \"openai\"\nmodel = \"gpt-x\"\nkey_env = \"WORK_KEY\"\ntpm = 1000\n";
    let l = layers(
        file,
        &[("OPENAI_MODEL", "from-dotenv")],
        &[("WORK_KEY", "sk-1"), ("BOTCODER_APPROVAL", "ask")],
    );
    let s = &l.settings;
    assert_eq!(l.file_error, None);
    assert_eq!(s.kind(), Some(ProviderKind::OpenAi));
    assert_eq!(s.fallback().map(|f| f.0), Some(vec![ProviderKind::Local]));
    assert_eq!(
        s.openai_key
            .as_ref()
            .map(|f| (f.value.expose(), f.source.clone())),
        Some((
            "sk-1",
            Source::Via {
                var: "WORK_KEY".into(),
                from: Box::new(Source::Environment)
            }
        ))
    );
    assert_eq!(s.tpm(), Some(1000));
    assert_eq!(
        (s.openai_model(), s.source_of("OPENAI_MODEL")),
        (
            "from-dotenv".to_owned(),
            Some(&Source::DotEnv("/cfg/.env".into()))
        )
    );
    assert_eq!(
        (s.approval(), s.source_of("BOTCODER_APPROVAL")),
        (ApprovalPolicy::Ask, Some(&Source::Environment))
    );
    assert_eq!(s.source_of("LLM_PROVIDER"), Some(&file_source()));
}

#[test]
fn a_bad_file_names_its_path_line_and_field_and_keeps_the_good_sections() {
    let l = layers("approval = \"ask\"\nmax_iterations = \"many\"\n", &[], &[]);
    let err = l.file_error.clone().unwrap();
    assert!(err.starts_with("/cfg/config.toml:2:"), "{err}");
    assert!(err.contains("max_iterations"), "{err}");
    assert_eq!(
        l.settings.approval.map(|f| f.value),
        Some(ApprovalPolicy::Ask),
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
        l.settings.provider, None,
        "the bad provider contributes nothing"
    );
    assert_eq!(l.settings.approval(), ApprovalPolicy::Auto);
    let l = layers("aproval = \"auto\"\n", &[], &[]);
    assert!(l.file_error.unwrap().contains("unknown key `aproval`"));
    let l = layers("[approvals]\ndeny = [\n", &[], &[]);
    assert!(
        l.approvals_lost,
        "a file that does not parse loses the deny rules too"
    );
    let l = layers("approval = \n", &[], &[]);
    assert!(l.file_error.is_some() && !l.approvals_lost);
    // A value of the wrong name is a problem of its variable, with the file named.
    let l = layers("approval = \"yolo\"\ntool_mode = \"text\"\n", &[], &[]);
    assert_eq!(l.settings.problems.len(), 1, "{:?}", l.settings.problems);
    assert_eq!(l.settings.problems[0].var, "BOTCODER_APPROVAL");
    assert!(
        l.file_error
            .unwrap()
            .contains("/cfg/config.toml: approval = \"yolo\"")
    );
    assert_eq!(l.settings.tool_mode(), settings::ToolMode::Text);
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
    assert!(KEYS.iter().any(|k| k.name == "LLM_FALLBACK"));
}

#[test]
fn a_number_in_the_file_arrives_as_a_number_with_the_file_as_its_source() {
    let l = layers(
        "max_iterations = 3\n[limits]\ntool_calls = 4\n[context]\ncompact_at = 0.5\n",
        &[],
        &[],
    );
    assert_eq!(
        l.settings.max_iterations,
        Some(Field {
            value: 3,
            source: file_source()
        })
    );
    assert_eq!(l.settings.max_tool_calls(), 4);
    assert_eq!(l.settings.compact_at(), 0.5);
    assert_eq!(l.settings.max_retries(), 3, "an unset key has its default");
}

#[test]
fn a_typo_in_one_variable_leaves_the_provider_and_every_other_field_working() {
    let l = layers(
        "approval = \"auto\"\n",
        &[],
        &[
            ("OPENAI_API_KEY", "sk-1"),
            ("BOTCODER_MAX_ITERATIONS", "many"),
            ("BOTCODER_TOOL_MODE", "text"),
        ],
    );
    let s = &l.settings;
    assert_eq!(s.problems.len(), 1);
    assert_eq!(s.problems[0].var, "BOTCODER_MAX_ITERATIONS");
    assert_eq!(
        s.problems[0].message,
        "BOTCODER_MAX_ITERATIONS=\"many\" is not a valid number"
    );
    assert_eq!(s.max_iterations, None, "the bad field stays unset");
    assert_eq!(s.max_iterations(), 25);
    assert_eq!(s.kind(), Some(ProviderKind::OpenAi));
    assert!(s.problems_of(ProviderKind::OpenAi).is_empty());
    assert_eq!(
        (s.approval(), s.tool_mode()),
        (ApprovalPolicy::Auto, settings::ToolMode::Text)
    );
    // A later layer that sets the variable right clears the earlier problem.
    let mut s = s.clone();
    s.over(&Settings::from_vars(
        [("BOTCODER_MAX_ITERATIONS", "7")],
        &Source::Client,
    ));
    assert!(s.problems.is_empty());
    assert_eq!(s.max_iterations(), 7);
}

#[test]
fn each_layer_overriding_one_field_of_a_section_keeps_the_others_with_their_sources() {
    let file = "provider = \"local\"\n[providers.local]\nurl = \"http://file/v1\"\nmodel = \"m-file\"\ncontext = 4096\n[sandbox]\nmode = \"bwrap\"\nnetwork = true\n";
    let l = layers(
        file,
        &[("LOCAL_LLM_MODEL", "m-dotenv")],
        &[("BOTCODER_SANDBOX_NETWORK", "false")],
    );
    let s = &l.settings;
    let dotenv = Source::DotEnv("/cfg/.env".into());
    assert_eq!(
        (
            s.local_url.clone().map(|f| (f.value, f.source)),
            s.local_model.clone().map(|f| (f.value, f.source)),
            s.local_context.clone().map(|f| (f.value, f.source)),
        ),
        (
            Some(("http://file/v1".to_owned(), file_source())),
            Some(("m-dotenv".to_owned(), dotenv)),
            Some((4096, file_source())),
        )
    );
    assert_eq!(
        (
            s.sandbox.clone().map(|f| (f.value, f.source)),
            s.sandbox_network.clone().map(|f| (f.value, f.source)),
        ),
        (
            Some((settings::SandboxMode::Bwrap, file_source())),
            Some((false, Source::Environment)),
        )
    );
    assert_eq!(
        s.provider.clone().map(|f| f.value),
        Some(ProviderChoice::Kind(ProviderKind::Local))
    );
}

#[test]
fn every_key_is_listed_with_its_default_and_source() {
    let l = layers(
        "fallback = [\"local\", \"openai\"]\n",
        &[],
        &[("OPENAI_API_KEY", "sk-1")],
    );
    let rows = l.settings.rows();
    assert_eq!(rows.len(), KEYS.len());
    let row = |name: &str| rows.iter().find(|r| r.name == name).cloned().unwrap();
    assert_eq!(
        row("LLM_FALLBACK").set,
        Some(("local,openai".to_owned(), file_source()))
    );
    assert_eq!(
        row("OPENAI_API_KEY").set,
        Some(("(set, redacted)".to_owned(), Source::Environment))
    );
    assert_eq!(
        (
            row("BOTCODER_MAX_ITERATIONS").set,
            row("BOTCODER_MAX_ITERATIONS").default
        ),
        (None, Some("25".to_owned()))
    );
    assert_eq!(row("BOTCODER_APPROVAL").default, Some("ask".to_owned()));
    assert_eq!(row("BOTCODER_SANDBOX").default, Some("auto".to_owned()));
    assert_eq!(row("OPENAI_WIRE").default, None);
    for k in KEYS {
        assert_eq!((k.default)(), row(k.name).default, "{}", k.name);
    }
}
