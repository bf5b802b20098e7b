//! The README's service-route snippets for Node, Python and PHP, taken from the README itself
//! and run by their own interpreters against a proxy on loopback: a partner copies these, so
//! they must unlink, record who and why, replay a retry, and surface the stable codes.

mod support;

use std::{path::Path, process::Command};

use serde_json::Value;
use support::*;
use unlink_proxy::{
    fake_mono::FakeMono,
    record::{Kind, Outcome, Reason, Via},
    secret::ServiceTokens,
};

const TOKEN: &str = "billing-0123456789abcdef0123456789";

/// One language: its snippet's first line in the README, how to run a file, and the lines
/// that call the snippet's function with the command line's arguments and print the answer
/// as JSON (`{"data": …}` or `{"code": …}`).
struct Language {
    name: &'static str,
    first_line: &'static str,
    file: &'static str,
    interpreter: &'static str,
    runner: &'static str,
}

const LANGUAGES: &[Language] = &[
    Language {
        name: "node",
        first_line: "// service-unlink.mjs",
        file: "service-unlink.mjs",
        interpreter: "node",
        runner: r#"
const [account, user, reason, key] = process.argv.slice(2);
try {
  console.log(JSON.stringify({ data: await unlinkAccount(account, user, reason, key) }));
} catch (error) {
  console.log(JSON.stringify({ code: error.code }));
}
"#,
    },
    Language {
        name: "python",
        first_line: "# service_unlink.py",
        file: "service_unlink.py",
        interpreter: "python3",
        runner: r#"
import json, sys
try:
    print(json.dumps({"data": unlink_account(*sys.argv[1:5])}))
except NotUnlinked as error:
    print(json.dumps({"code": error.code}))
"#,
    },
    Language {
        name: "php",
        first_line: "<?php\n// service_unlink.php",
        file: "service_unlink.php",
        interpreter: "php",
        runner: r#"
try {
    echo json_encode(['data' => unlink_account($argv[1], $argv[2], $argv[3], $argv[4])]), "\n";
} catch (RuntimeException $error) {
    echo json_encode(['code' => $error->getMessage()]), "\n";
}
"#,
    },
];

/// The fenced block of the README whose text starts with `first_line`.
fn snippet(readme: &str, first_line: &str) -> String {
    let mut found = readme.split("```").filter_map(|block| {
        let (_, body) = block.split_once('\n')?;
        body.starts_with(first_line).then(|| body.to_owned())
    });
    let body = found
        .next()
        .unwrap_or_else(|| panic!("README has no block starting {first_line:?}"));
    assert!(found.next().is_none(), "one block starting {first_line:?}");
    body
}

/// Runs the snippet with `args` against `base` and `token`; the JSON it printed.
fn run(language: &Language, dir: &Path, base: &str, token: &str, args: &[&str]) -> Value {
    let output = Command::new(language.interpreter)
        .arg(dir.join(language.file))
        .args(args)
        .env("UNLINK_SERVICE_URL", base)
        .env("UNLINK_SERVICE_TOKEN", token)
        .output()
        .unwrap_or_else(|e| panic!("{} (make setup installs it): {e}", language.interpreter));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}: {stdout}\n{}",
        language.name,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{}: {e}: {stdout}", language.name))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_readmes_node_python_and_php_snippets_unlink_through_the_service_route() {
    let readme = include_str!("../../README.md");
    let accounts = ["acc-node-0001", "acc-python-0001", "acc-php-0001"];
    let mut fake = FakeMono::new(SECRET);
    for account in accounts {
        fake = fake.with_account(account);
    }
    let mut h = harness_with_fake(fake).await;
    let tokens = ServiceTokens::parse(&format!("billing:{TOKEN}\n")).unwrap();
    let served = start_with(&mut h, |c| c.service_tokens = Some(tokens)).await;
    let base = format!("{}/api/mono", served.url);

    for (language, account) in LANGUAGES.iter().zip(accounts) {
        let dir = tempfile::tempdir().unwrap();
        let code = snippet(readme, language.first_line) + language.runner;
        std::fs::write(dir.path().join(language.file), code).unwrap();
        let user = format!("user-{}", language.name);
        let key = format!("erasure-T1-{account}");
        let args = [account, user.as_str(), "erasure_request", key.as_str()];

        let first = run(language, dir.path(), &base, TOKEN, &args);
        assert_eq!(
            first["data"]["account_id"], account,
            "{}: {first}",
            language.name
        );
        assert_eq!(
            first["data"]["already_unlinked"], false,
            "{}",
            language.name
        );
        // The job run again with the same key: replayed, Mono not asked again.
        let again = run(language, dir.path(), &base, TOKEN, &args);
        assert_eq!(
            again["data"]["account_id"], account,
            "{}: {again}",
            language.name
        );
        assert_eq!(h.fake.calls(account), 1, "{}: one Mono call", language.name);
        // A wrong token: the stable code, nothing recorded, no call.
        let wrong = run(language, dir.path(), &base, &TOKEN.replace('0', "1"), &args);
        assert_eq!(wrong["code"], "unauthorized", "{}: {wrong}", language.name);
        // A reason outside the vocabulary: the stable code for a bad body.
        let mut odd = args;
        odd[2] = "because";
        let odd = run(language, dir.path(), &base, TOKEN, &odd);
        assert_eq!(odd["code"], "invalid_request", "{}: {odd}", language.name);

        // On record: who (the body's principal), why, through which door, and which token.
        let rows = h.rows_of(Kind::Unlink).await;
        let row = rows
            .iter()
            .find(|row| row.account_id.as_deref() == Some(account))
            .unwrap_or_else(|| panic!("{}: no outcome row", language.name));
        assert_eq!(row.outcome, Some(Outcome::Unlinked));
        assert_eq!(row.principal.as_deref(), Some(user.as_str()));
        assert_eq!(row.reason, Some(Reason::ErasureRequest));
        assert_eq!(row.via, Some(Via::Service));
        let intents = h.rows_of(Kind::Intent).await;
        let intent = intents
            .iter()
            .find(|i| Some(i.id) == row.intent_id)
            .unwrap();
        assert_eq!(intent.detail.as_deref(), Some("service token billing"));
        assert!(!h.fake.is_linked(account), "{}", language.name);
    }
}
