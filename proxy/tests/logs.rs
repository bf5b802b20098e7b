//! Log lines never carry the secret key. In a test binary of its own, so no other test's
//! thread can race the capture.
#![cfg(feature = "fake-mono")]

mod support;

use support::*;

#[tokio::test]
async fn the_secret_never_reaches_a_log_line() {
    let logs = Logs::default();
    let _guard = logs.capture();
    let mut h = harness(&[(OWNED_2, "503x1")]).await;
    let app = h.app().await;
    for (id, key) in [
        (OWNED, "a"),
        (OWNED, "b"),
        (OWNED_2, "c"),
        (NOT_OWNED, "d"),
        ("../x", "e"),
    ] {
        send(&app, post_unlink(id, key)).await;
    }
    let text = logs.text();
    assert!(
        text.contains("unlink attempt"),
        "logs were captured: {text}"
    );
    assert!(!text.contains(SECRET));
    assert!(!text.contains("0123456789abcdefghij"));
}

#[tokio::test]
async fn a_wrong_mono_url_is_an_error_once_a_minute_with_the_path_and_the_hint() {
    let logs = Logs::default();
    let _guard = logs.capture();
    let mut h = harness(&[("*", "html404")]).await;
    let app = h.app().await;
    for (id, key) in [(OWNED, "a"), (OWNED_2, "b"), (OWNED, "c")] {
        let answer = send(&app, post_unlink(id, key)).await;
        assert_eq!(answer.code(), "upstream_unexpected");
    }
    let text = logs.text();
    let alarms: Vec<&str> = text
        .lines()
        .filter(|line| line.contains("ERROR") && line.contains("--mono-base-url"))
        .collect();
    assert_eq!(alarms.len(), 1, "{text}");
    assert!(
        alarms[0].contains("check --mono-base-url and --mono-api"),
        "{}",
        alarms[0]
    );
    assert!(
        alarms[0].contains("/v2/accounts/{id}/unlink"),
        "{}",
        alarms[0]
    );
    assert!(!text.contains(SECRET));
}
