//! Opening the dialog and leaving it without unlinking.

use wasm_bindgen_test::wasm_bindgen_test;

use super::*;

#[wasm_bindgen_test]
async fn opening_shows_a_modal_and_focuses_cancel() {
    let widget = Widget::mount(options(&[])).await;
    widget.open().await;
    let dialog = widget.dialog();
    assert!(dialog.matches(":modal").unwrap(), "opened with showModal()");
    assert!(is_focused(&widget.button("Cancel")));
    assert_eq!(widget.event_names(), ["unlink:open"]);
    assert_eq!(
        field(&widget.last_detail("unlink:open"), "accountId"),
        ACCOUNT
    );
}

#[wasm_bindgen_test]
async fn cancel_and_escape_send_nothing_and_return_focus() {
    type Dismissal = (&'static str, fn(&Widget));
    let dismissals: [Dismissal; 2] = [
        ("Cancel", |w| w.button("Cancel").click()),
        ("Escape", |w| press_escape(&w.dialog())),
    ];
    for (how, dismiss) in dismissals {
        let fetch = FakeFetch::install();
        let widget = Widget::mount(options(&[])).await;
        widget.open().await;
        dismiss(&widget);
        widget.dismissed().await;
        assert_eq!(fetch.count(), 0, "{how}");
        assert!(is_focused(&widget.trigger().unwrap()), "{how}");
        assert_eq!(
            widget.event_names(),
            ["unlink:open", "unlink:cancel"],
            "{how}"
        );
    }
}
