//! `checkStatus`: one look-up on mount, and "already unlinked" in the trigger's place when the
//! proxy's record says so, without taking the page's focus; anything else leaves the button.
//!
//! Look-ups are shared per URL for the life of the page (this test run), so each test uses
//! accounts of its own.

use wasm_bindgen_test::wasm_bindgen_test;

use super::*;
use crate::request::LOOKUPS_SETTLED;

const ALREADY: &str = "This bank account was already unlinked.";

fn checking(account: &str) -> JsValue {
    options(&[("accountId", account.into()), ("checkStatus", true.into())])
}

fn status_body(state: &str) -> String {
    format!(
        r#"{{"status":"successful","message":"","timestamp":"","data":{{"account_id":"x","state":"{state}","unlinked_at":null,"confirmed":false}}}}"#
    )
}

/// Waits until `count` more look-ups than `before` have been acted on.
async fn looked_up(before: u32, count: u32) {
    wait_for("the status look-up to be acted on", || {
        LOOKUPS_SETTLED.get() >= before + count
    })
    .await;
}

#[wasm_bindgen_test]
async fn an_account_unlinked_on_record_shows_the_sentence_instead_of_the_button_quietly() {
    let fetch = FakeFetch::install();
    let before = LOOKUPS_SETTLED.get();
    let widget = Widget::mount(checking("status-unlinked-1")).await;
    wait_for("the look-up", || fetch.count() == 1).await;
    {
        let call = fetch.last();
        assert_eq!(call.url, "/api/mono/accounts/status-unlinked-1");
        assert_eq!(field(&call.init, "method"), "GET");
        assert_eq!(call.header("accept").as_deref(), Some("application/json"));
        assert_eq!(
            call.header("idempotency-key"),
            None,
            "a look-up is not an unlink"
        );
        assert_eq!(field(&call.init, "credentials"), "same-origin");
        // The button is there while the proxy thinks: a slow proxy never blocks the user.
        assert!(!widget.trigger().unwrap().hidden());
        call.answer(200, &status_body("unlinked"), &[]);
    }
    wait_for("the done state", || widget.state() == "done").await;
    looked_up(before, 1).await;

    assert!(widget.trigger().unwrap().hidden(), "no button to offer");
    let done = widget.get(".unlink-done");
    assert_eq!(done.text_content().unwrap(), ALREADY);
    // The same markup as after an unlink, the account named by its description…
    let described = done.get_attribute("aria-describedby").unwrap();
    assert_eq!(text_of_ids(&described), "Your GTBank account ending 1234");
    // …but the page's focus stays where it was, nothing is announced, no event is fired:
    // nothing happened now.
    assert!(!is_focused(&done), "focus is not taken on load");
    assert_eq!(widget.progress(), "");
    assert!(
        widget.event_names().is_empty(),
        "{:?}",
        widget.event_names()
    );
    assert_eq!(fetch.count(), 1);
}

#[wasm_bindgen_test]
async fn focus_on_the_button_moves_to_the_sentence_that_replaces_it() {
    let fetch = FakeFetch::install();
    let widget = Widget::mount(checking("status-focused-1")).await;
    wait_for("the look-up", || fetch.count() == 1).await;
    widget.trigger().unwrap().focus().unwrap();
    fetch.last().answer(200, &status_body("unlinked"), &[]);
    wait_for("the done state", || widget.state() == "done").await;
    let done = widget.get(".unlink-done");
    wait_for("focus on the sentence", || is_focused(&done)).await;
}

#[wasm_bindgen_test]
async fn any_other_answer_leaves_the_button_and_it_still_unlinks() {
    let fetch = FakeFetch::install();
    type Answer = fn(&Call);
    let cases: &[(&str, Answer)] = &[
        ("linked", |c| c.answer(200, &status_body("linked"), &[])),
        ("unknown", |c| c.answer(200, &status_body("unknown"), &[])),
        ("forbidden", |c| {
            c.answer(403, r#"{"data":{"code":"forbidden"}}"#, &[])
        }),
        ("missing", |c| c.answer(404, "<html>Not found</html>", &[])),
        ("html 200", |c| c.answer(200, "<html>unlinked</html>", &[])),
        ("no data", |c| c.answer(200, r#"{"state":"unlinked"}"#, &[])),
        ("other case", |c| {
            c.answer(200, &status_body("Unlinked"), &[])
        }),
        ("server error", |c| c.answer(500, "", &[])),
        ("network", Call::fail),
    ];
    for (n, (name, answer)) in cases.iter().enumerate() {
        let before = LOOKUPS_SETTLED.get();
        let sent = fetch.count();
        let widget = Widget::mount(checking(&format!("status-other-{n}"))).await;
        wait_for("the look-up", || fetch.count() == sent + 1).await;
        answer(&fetch.last());
        looked_up(before, 1).await;
        assert_eq!(widget.state(), "idle", "{name}");
        assert!(!widget.trigger().unwrap().hidden(), "{name}");
        // The button works as ever.
        widget.open().await;
        widget.confirm().await;
        wait_for("the unlink", || fetch.count() == sent + 2).await;
        assert!(fetch.last().url.ends_with("/unlink"), "{name}");
        fetch
            .last()
            .answer(200, r#"{"data":{"already_unlinked":false}}"#, &[]);
        widget.settled().await;
        assert_eq!(widget.state(), "done", "{name}");
    }
}

#[wasm_bindgen_test]
async fn a_user_already_in_the_dialog_is_not_interrupted_by_the_answer() {
    let fetch = FakeFetch::install();
    let before = LOOKUPS_SETTLED.get();
    let widget = Widget::mount(checking("status-late-1")).await;
    wait_for("the look-up", || fetch.count() == 1).await;
    widget.open().await;
    fetch.last().answer(200, &status_body("unlinked"), &[]);
    looked_up(before, 1).await;
    assert_eq!(widget.state(), "confirming");
    assert!(widget.dialog().open());
    assert!(is_focused(&widget.button("Cancel")));
}

#[wasm_bindgen_test]
async fn widgets_sharing_an_account_ask_once_and_a_remount_asks_nobody() {
    let fetch = FakeFetch::install();
    let before = LOOKUPS_SETTLED.get();
    let first = Widget::mount(checking("status-shared-1")).await;
    let second = Widget::mount(checking("status-shared-1")).await;
    let other = Widget::mount(checking("status-shared-2")).await;
    let plain = Widget::mount(options(&[("accountId", "status-shared-3".into())])).await;
    wait_for("two look-ups", || fetch.count() == 2).await;
    let urls: Vec<String> = fetch.calls.borrow().iter().map(|c| c.url.clone()).collect();
    assert_eq!(
        urls,
        [
            "/api/mono/accounts/status-shared-1",
            "/api/mono/accounts/status-shared-2"
        ]
    );
    fetch.calls.borrow()[0].answer(200, &status_body("unlinked"), &[]);
    fetch.calls.borrow()[1].answer(200, &status_body("linked"), &[]);
    looked_up(before, 3).await;
    assert_eq!(first.state(), "done");
    assert_eq!(second.state(), "done");
    assert_eq!(other.state(), "idle");
    assert_eq!(plain.state(), "idle");

    // Mounted again (a framework re-rendering, an attribute changed): the answer is known.
    drop(first);
    let again = Widget::mount(checking("status-shared-1")).await;
    looked_up(before, 4).await;
    assert_eq!(again.state(), "done");
    // After an unlink here, a remount knows that too, still without asking.
    other.open().await;
    other.confirm().await;
    wait_for("the unlink", || fetch.count() == 3).await;
    fetch
        .last()
        .answer(200, r#"{"data":{"already_unlinked":false}}"#, &[]);
    other.settled().await;
    drop(other);
    let after = Widget::mount(checking("status-shared-2")).await;
    looked_up(before, 5).await;
    assert_eq!(after.state(), "done");
    assert_eq!(after.get(".unlink-done").text_content().unwrap(), ALREADY);
    assert_eq!(fetch.count(), 3, "no more requests than widgets");
}

#[wasm_bindgen_test]
async fn nothing_is_asked_without_check_status_or_before_the_element_is_in_the_page() {
    let fetch = FakeFetch::install();
    let plain = Widget::mount(options(&[("accountId", "status-off-1".into())])).await;
    assert_eq!(plain.state(), "idle");

    // An element built but never inserted: mount() renders into it and asks nobody.
    let detached: HtmlElement = document().create_element("div").unwrap().unchecked_into();
    let mut handle = crate::mount(detached.clone().into(), checking("status-off-2"));
    wait_for("the detached widget to render", || {
        detached.child_element_count() > 0
    })
    .await;
    next_task().await;
    assert_eq!(fetch.count(), 0);
    handle.unmount();
}
