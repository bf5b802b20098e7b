//! `unlink-proxy fake-mono`: the fake Mono on its own, for several replicas, the reference
//! set-up, benchmarks and partners' own tests, with the demo user's authoriser beside it.

use std::process::ExitCode;

use crate::{cli::FakeMonoArgs, fail, setup, shutdown_signal};

/// `unlink-proxy fake-mono`: the fake Mono, and the demo user's authoriser, on their own.
pub(crate) async fn run(args: FakeMonoArgs) -> ExitCode {
    use std::collections::HashSet;
    use unlink_proxy::fake_mono::FakeMono;
    let mut owned: HashSet<String> = setup::DEMO_OWNED.iter().map(|s| s.to_string()).collect();
    owned.extend(args.accounts.iter().map(|id| id.to_string()));
    if let Some(path) = &args.accounts_from {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) => return fail(&format!("cannot read {}: {error}", path.display())),
        };
        for (number, line) in text.lines().enumerate() {
            match unlink_proxy::account::AccountId::parse(line.trim()) {
                Ok(id) => {
                    owned.insert(id.to_string());
                }
                Err(_) if line.trim().is_empty() => {}
                Err(error) => {
                    return fail(&format!("{}:{}: {error}", path.display(), number + 1));
                }
            }
        }
    }
    let mut fake = FakeMono::accepting_any_test_key();
    for id in owned
        .iter()
        .map(String::as_str)
        .chain([setup::DEMO_NOT_OWNED])
    {
        fake = fake.with_account(id);
    }
    for (id, fault) in &args.faults {
        fake = fake.with_fault(id, *fault);
    }
    if let Some(per_second) = args.rate {
        fake = fake.with_rate_limit(per_second);
    }
    let fake = fake
        .with_demo_authoriser(setup::DEMO_USER, (!args.demo_owns_all).then_some(owned))
        .with_authoriser_latency(args.demo_authoriser_latency);
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(listener) => listener,
        Err(error) => return fail(&format!("cannot listen on {}: {error}", args.listen)),
    };
    let addr = listener.local_addr().unwrap_or(args.listen);
    // On stdout: the lines scripts and tests wait for.
    println!("Fake Mono: http://{addr} (any test_sk_ key; nothing reaches api.withmono.com)");
    println!("Demo authoriser: http://{addr}/demo/can-unlink");
    tracing::warn!("FAKE MONO on http://{addr}: for the demo and tests only");
    tokio::select! {
        () = std::sync::Arc::new(fake).serve(listener) => {}
        () = shutdown_signal() => {}
    }
    ExitCode::SUCCESS
}
