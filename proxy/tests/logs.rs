//! Log lines never carry the secret key. In a test binary of its own, so no other test's
//! thread can race the capture.

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
