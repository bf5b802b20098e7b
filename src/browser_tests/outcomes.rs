//! What the user sees for each answer: errors in the open dialog, retries with the same key,
//! and success taking the trigger's place.

use wasm_bindgen_test::wasm_bindgen_test;

use super::*;

/// A widget whose request was answered by `answer`, once the answer is shown.
async fn answered(answer: impl FnOnce(&Call)) -> (Widget, FakeFetch) {
    let fetch = FakeFetch::install();
    let widget = Widget::mount(options(&[])).await;
    widget.open().await;
    widget.confirm().await;
    wait_for("the request", || fetch.count() == 1).await;
    answer(&fetch.last());
    widget.settled().await;
    (widget, fetch)
}

#[wasm_bindgen_test]
async fn each_error_status_shows_its_message_in_the_open_dialog() {
    type Case<'a> = (u16, &'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: &[Case] = &[
        (
            401,
            &[],
            "not_allowed",
            "You aren’t allowed to unlink this account.",
        ),
        (
            403,
            &[],
            "not_allowed",
            "You aren’t allowed to unlink this account.",
        ),
        (
            404,
            &[],
            "not_found",
            "This account wasn’t found, so nothing was unlinked.",
        ),
        (409, &[], "rejected", "This account can’t be unlinked here."),
        (422, &[], "rejected", "This account can’t be unlinked here."),
        (
            429,
            &[],
            "rate_limited",
            "Too many attempts. Wait a moment, then try again.",
        ),
        (
            429,
            &[("retry-after", "30")],
            "rate_limited",
            "Try again in 30 seconds.",
        ),
        (
            500,
            &[],
            "server_error",
            "We couldn’t unlink your account. Try again.",
        ),
        (
            503,
            &[],
            "server_error",
            "We couldn’t unlink your account. Try again.",
        ),
    ];
    for &(status, headers, code, message) in cases {
        // The server's own words must never reach the user.
        let body = r#"{"status":"failed","message":"SECRET internal detail"}"#;
        let (widget, _fetch) = answered(|call| call.answer(status, body, headers)).await;
        let alert = widget
            .alert()
            .unwrap_or_else(|| panic!("{status}: no alert"));
        assert!(alert.contains(message), "{status}: {alert}");
        assert!(!widget.host.inner_html().contains("SECRET"));
        assert!(widget.dialog().open(), "{status}: the dialog stays open");
        assert!(!widget.trigger().unwrap().hidden());
        let detail = widget.last_detail("unlink:error");
        assert_eq!(field(&detail, "code"), code, "{status}");
        assert_eq!(field(&detail, "status"), status, "{status}");
    }
}

#[wasm_bindgen_test]
async fn network_error_is_reported_in_words() {
    let (widget, _fetch) = answered(Call::fail).await;
    assert_eq!(
        widget.alert().as_deref(),
        Some("We couldn’t unlink your account. Try again.")
    );
    let detail = widget.last_detail("unlink:error");
    assert_eq!(field(&detail, "code"), "network_error");
    assert!(field(&detail, "status").is_null());
}

#[wasm_bindgen_test]
async fn timeout_aborts_the_request_and_reports_it() {
    let fetch = FakeFetch::install();
    let widget = Widget::mount(options(&[("timeout", 1000.into())])).await;
    widget.open().await;
    widget.confirm().await;
    wait_for("the request", || fetch.count() == 1).await;
    assert!(!fetch.last().signal().aborted());
    // The widget's own 1 s timer aborts it; nothing answers it.
    widget.settled().await;
    assert!(fetch.last().signal().aborted());
    assert_eq!(
        widget.alert().as_deref(),
        Some("We couldn’t unlink your account. Try again.")
    );
    assert_eq!(
        field(&widget.last_detail("unlink:error"), "code"),
        "timeout"
    );
}

#[wasm_bindgen_test]
async fn retry_reuses_the_key_and_reopening_is_fresh() {
    let (widget, fetch) = answered(|call| call.answer(503, "", &[])).await;
    let first_key = fetch.last().header("idempotency-key").unwrap();
    assert!(widget.alert().is_some());

    // "Unlink account" retries the same confirmation, with the same key.
    widget.confirm().await;
    wait_for("the retry", || fetch.count() == 2).await;
    assert_eq!(fetch.last().header("idempotency-key").unwrap(), first_key);
    assert_eq!(
        widget.alert(),
        None,
        "the old error is cleared while retrying"
    );
    fetch.last().answer(503, "", &[]);
    widget.settled().await;

    // Cancel, then open again: no stale error, focus on Cancel, and a new key.
    widget.button("Cancel").click();
    widget.dismissed().await;
    widget.open().await;
    assert_eq!(widget.alert(), None);
    let active = active_element().map(|e| e.outer_html());
    assert!(
        is_focused(&widget.button("Cancel")),
        "{active:?} {}",
        widget.host.inner_html()
    );
    widget.confirm().await;
    wait_for("the third request", || fetch.count() == 3).await;
    assert_ne!(fetch.last().header("idempotency-key").unwrap(), first_key);
}

#[wasm_bindgen_test]
async fn success_replaces_the_trigger_with_a_focused_sentence() {
    let (widget, _fetch) = answered(|call| {
        call.answer(
            200,
            r#"{"status":"successful","data":{"already_unlinked":false}}"#,
            &[("x-request-id", "req-1")],
        )
    })
    .await;
    let done = widget.get(".unlink-done");
    wait_for("focus on the sentence", || is_focused(&done)).await;
    assert!(!widget.dialog().open());
    assert!(widget.trigger().unwrap().hidden(), "the trigger is gone");
    assert_eq!(done.text_content().unwrap(), "Bank account unlinked.");
    assert_eq!(done.get_attribute("tabindex").as_deref(), Some("-1"));
    // Not a live region (a later modal closing would re-announce it): a group named by its
    // sentence (a focused paragraph is read twice by Chromium), described by the account.
    assert_eq!(done.get_attribute("role").as_deref(), Some("group"));
    assert_eq!(
        text_of_ids(&done.get_attribute("aria-labelledby").unwrap()),
        "Bank account unlinked."
    );
    let described_by = done.get_attribute("aria-describedby").unwrap();
    assert_eq!(
        text_of_ids(&described_by),
        "Your GTBank account ending 1234"
    );
    assert_eq!(
        widget.event_names(),
        ["unlink:open", "unlink:confirm", "unlink:success"]
    );
    let detail = widget.last_detail("unlink:success");
    assert_eq!(field(&detail, "accountId"), ACCOUNT);
    assert_eq!(field(&detail, "status"), 200);
    assert_eq!(field(&detail, "alreadyUnlinked"), false);
    assert_eq!(field(&detail, "requestId"), "req-1");
}

#[wasm_bindgen_test]
async fn already_unlinked_comes_from_the_body() {
    let body = r#"{"status":"successful","data":{"already_unlinked":true}}"#;
    let (widget, _fetch) = answered(|call| call.answer(200, body, &[])).await;
    assert_eq!(
        widget.get(".unlink-done").text_content().unwrap(),
        "This bank account was already unlinked."
    );
    assert_eq!(
        field(&widget.last_detail("unlink:success"), "alreadyUnlinked"),
        true
    );
}

#[wasm_bindgen_test]
async fn a_2xx_without_the_proxys_json_still_counts() {
    for (status, body) in [(204, ""), (200, "OK"), (200, "<html>done</html>")] {
        let (widget, _fetch) = answered(|call| call.answer(status, body, &[])).await;
        assert_eq!(
            widget.get(".unlink-done").text_content().unwrap(),
            "Bank account unlinked.",
            "{body:?}"
        );
    }
}

#[wasm_bindgen_test]
async fn success_moves_focus_to_the_sentence_before_the_dialog_closes() {
    let fetch = FakeFetch::install();
    let widget = Widget::mount(options(&[])).await;
    widget.open().await;
    widget.confirm().await;
    wait_for("the request", || fetch.count() == 1).await;
    fetch.last().answer(200, "", &[]);
    let done = widget.get(".unlink-done");
    wait_for("focus on the sentence", || is_focused(&done)).await;
    // Focus left a dialog still in the page (no longer modal, and unseen): Orca with
    // Chromium says nothing when focus comes from a dialog already closed.
    let dialog = widget.dialog();
    assert!(dialog.open(), "the dialog is still there");
    assert!(!dialog.matches(":modal").unwrap(), "but no longer modal");
    assert!(dialog.has_attribute("data-closing"), "and unseen");
    wait_for("the dialog to close", || !dialog.open()).await;
    assert!(!dialog.has_attribute("data-closing"));
    assert!(is_focused(&done), "focus stays on the sentence");
    // Heard through focus alone: the only live region is the dialog's progress line.
    let live = widget.host.query_selector_all("[role=status]").unwrap();
    assert_eq!(live.length(), 1);
    assert_eq!(widget.progress(), "");
}
