//! Confirming: exactly one request, of the contracted shape, and a busy dialog until it
//! is answered.

use wasm_bindgen_test::wasm_bindgen_test;

use super::*;

#[wasm_bindgen_test]
async fn double_click_sends_exactly_one_request() {
    let fetch = FakeFetch::install();
    let widget = Widget::mount(options(&[])).await;
    widget.open().await;
    let confirm = widget.button("Unlink account");
    for _ in 0..4 {
        confirm.click();
    }
    wait_for("the request", || fetch.count() > 0).await;
    next_task().await;
    assert_eq!(fetch.count(), 1);
    assert_eq!(widget.event_names(), ["unlink:open", "unlink:confirm"]);
}

#[wasm_bindgen_test]
async fn request_has_the_contracted_shape() {
    let fetch = FakeFetch::install();
    let headers = js_sys::Object::new();
    js_sys::Reflect::set(&headers, &"X-CSRF-Token".into(), &"t0k3n".into()).unwrap();
    let widget = Widget::mount(options(&[("headers", headers.into())])).await;
    widget.open().await;
    widget.confirm().await;
    wait_for("the request", || fetch.count() == 1).await;

    let call = fetch.last();
    assert_eq!(call.url, format!("/api/mono/accounts/{ACCOUNT}/unlink"));
    assert_eq!(field(&call.init, "method"), "POST");
    assert_eq!(field(&call.init, "credentials"), "same-origin");
    assert!(field(&call.init, "body").is_undefined());
    assert_eq!(call.header("accept").as_deref(), Some("application/json"));
    assert_eq!(call.header("x-csrf-token").as_deref(), Some("t0k3n"));
    let key = call.header("idempotency-key").unwrap();
    assert!(is_uuid_v4(&key), "{key}");
    assert_eq!(
        field(&widget.last_detail("unlink:confirm"), "idempotencyKey"),
        key.as_str()
    );
}

#[wasm_bindgen_test]
async fn credentials_mode_is_configurable() {
    let fetch = FakeFetch::install();
    let widget = Widget::mount(options(&[("credentials", "include".into())])).await;
    widget.open().await;
    widget.confirm().await;
    wait_for("the request", || fetch.count() == 1).await;
    assert_eq!(field(&fetch.last().init, "credentials"), "include");
}

#[wasm_bindgen_test]
async fn pending_keeps_the_dialog_busy_but_focusable() {
    let fetch = FakeFetch::install();
    let widget = Widget::mount(options(&[])).await;
    widget.open().await;
    let confirm = widget.button("Unlink account");
    confirm.focus().unwrap();
    widget.confirm().await;
    wait_for("the request", || fetch.count() == 1).await;

    assert_eq!(
        confirm.get_attribute("aria-disabled").as_deref(),
        Some("true")
    );
    assert!(!confirm.has_attribute("disabled"));
    assert!(is_focused(&confirm), "focus stays on the busy button");
    // Said only once the answer takes a moment: a fast answer is heard alone.
    assert_eq!(widget.progress(), "", "not at once");
    wait_for("Unlinking…", || widget.progress() == "Unlinking…").await;
    let cancel = widget.button("Cancel");
    assert_eq!(
        cancel.get_attribute("aria-disabled").as_deref(),
        Some("true")
    );

    // Escape and Cancel do nothing until the request settles.
    press_escape(&widget.dialog());
    widget.button("Cancel").click();
    next_task().await;
    assert!(widget.dialog().open());
    assert_eq!(widget.state(), "pending");
    assert_eq!(fetch.count(), 1);
    assert!(!widget.event_names().contains(&"unlink:cancel".to_owned()));

    fetch.last().answer(500, "", &[]);
    widget.settled().await;
    assert_eq!(confirm.get_attribute("aria-disabled"), None);
    assert_eq!(cancel.get_attribute("aria-disabled"), None);
    assert_eq!(widget.progress(), "");
}

#[wasm_bindgen_test]
async fn a_dialog_the_browser_closes_while_pending_comes_back_focused_on_confirm() {
    let fetch = FakeFetch::install();
    let widget = Widget::mount(options(&[])).await;
    widget.open().await;
    widget.confirm().await;
    wait_for("the request", || fetch.count() == 1).await;

    // What Chromium and Firefox do on a second Escape in a row: close without a cancelable
    // `cancel` event. showModal() then focuses Cancel, which does nothing while pending.
    widget.dialog().close();
    wait_for("the dialog to come back", || widget.dialog().open()).await;
    let confirm = widget.button("Unlink account");
    wait_for("focus on Unlink account", || is_focused(&confirm)).await;
    assert_eq!(widget.state(), "pending");

    // The error arrives where the user is: Enter retries.
    fetch.last().answer(503, "", &[]);
    widget.settled().await;
    assert!(widget.alert().is_some());
    assert!(
        is_focused(&confirm),
        "{:?}",
        active_element().map(|e| e.outer_html())
    );
    assert_eq!(fetch.count(), 1);
    assert!(!widget.event_names().contains(&"unlink:cancel".to_owned()));
}
