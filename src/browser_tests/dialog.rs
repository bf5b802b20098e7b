//! Opening the dialog and leaving it without unlinking.

use wasm_bindgen_test::wasm_bindgen_test;

use super::*;

#[wasm_bindgen_test]
async fn opening_shows_a_modal_and_focuses_cancel() {
    let widget = Widget::mount(options(&[])).await;
    widget.trigger().unwrap().click();
    let dialog = widget.dialog();
    assert!(dialog.matches(":modal").unwrap(), "opened with showModal()");
    // First the dialog, so a screen reader reads its question and consequence ...
    assert!(is_focused(&dialog), "the dialog holds focus first");
    // ... then Cancel, the least destructive choice.
    wait_for("Cancel to take focus", || {
        is_focused(&widget.button("Cancel"))
    })
    .await;
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

#[wasm_bindgen_test]
async fn tab_and_shift_tab_go_round_the_two_buttons() {
    let widget = Widget::mount(options(&[])).await;
    widget.open().await;
    let (cancel, confirm) = (widget.button("Cancel"), widget.button("Unlink account"));
    // Tab on the last button, Shift+Tab on the first: round to the other end, as the APG
    // dialog pattern asks (otherwise Tab leaves the page for the browser's toolbar).
    for (from, shift, to) in [(&confirm, false, &cancel), (&cancel, true, &confirm)] {
        from.focus().unwrap();
        assert!(
            !press_tab(from, shift),
            "the browser's own move is cancelled"
        );
        assert!(is_focused(to));
    }
    // Between the two, the browser moves focus as usual.
    cancel.focus().unwrap();
    assert!(
        press_tab(&cancel, false),
        "Tab from Cancel is the browser's"
    );
    assert!(
        is_focused(&cancel),
        "a synthetic key press moves nothing by itself"
    );
}

/// Dispatches a Tab key press on `target`; returns whether its default action would run.
fn press_tab(target: &HtmlElement, shift: bool) -> bool {
    let init = web_sys::KeyboardEventInit::new();
    init.set_key("Tab");
    init.set_shift_key(shift);
    init.set_bubbles(true);
    init.set_cancelable(true);
    let event =
        web_sys::KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &init).unwrap();
    target.dispatch_event(&event).unwrap()
}
