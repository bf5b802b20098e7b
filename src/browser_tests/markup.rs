//! What the widget puts on the page before anyone touches it: roles, names, descriptions,
//! live regions and ids.

use wasm_bindgen::JsCast;
use wasm_bindgen_test::wasm_bindgen_test;
use web_sys::Element;

use super::*;

#[wasm_bindgen_test]
async fn trigger_is_a_plain_button() {
    let widget = Widget::mount(options(&[])).await;
    let trigger = widget.trigger().unwrap();
    assert_eq!(trigger.tag_name(), "BUTTON");
    assert_eq!(trigger.get_attribute("type").as_deref(), Some("button"));
    assert_eq!(trigger.text_content().unwrap(), "Unlink bank account");
    // With aria-haspopup, WebKit calls it a pop-up button (a combo box to Orca).
    assert!(!trigger.has_attribute("aria-haspopup"));
    // Three such buttons on a page differ by their description.
    let described_by = trigger.get_attribute("aria-describedby").unwrap();
    assert_eq!(
        text_of_ids(&described_by),
        "Your GTBank account ending 1234"
    );
    assert!(
        !trigger.class_name().contains("confirm"),
        "the trigger is not the danger style"
    );
    assert!(!widget.dialog().open());
}

#[wasm_bindgen_test]
async fn dialog_is_a_dialog_named_and_described() {
    let widget = Widget::mount(options(&[])).await;
    let dialog = widget.dialog();
    assert_eq!(dialog.tag_name(), "DIALOG");
    // Its own role, not `alertdialog`: Orca with Chromium reads an alert dialog three times.
    assert_eq!(dialog.get_attribute("role"), None);
    // Focusable for its first moment, but not a Tab stop of its own.
    assert_eq!(dialog.tab_index(), -1);
    let name = text_of_ids(&dialog.get_attribute("aria-labelledby").unwrap());
    assert_eq!(name, "Unlink bank account?");
    let description = text_of_ids(&dialog.get_attribute("aria-describedby").unwrap());
    assert!(description.contains("GTBank"), "{description}");
    assert!(description.contains("ending 1234"), "{description}");
    assert!(
        description.contains("data will be deleted"),
        "{description}"
    );
    assert!(description.contains("link it again later"), "{description}");

    let buttons = widget.host.query_selector_all("dialog button").unwrap();
    let names: Vec<String> = (0..buttons.length())
        .map(|i| buttons.item(i).unwrap().text_content().unwrap())
        .collect();
    assert_eq!(names, ["Cancel", "Unlink account"]);
    assert!(
        widget
            .button("Unlink account")
            .class_name()
            .contains("unlink-confirm")
    );
}

#[wasm_bindgen_test]
async fn status_regions_exist_empty_from_mount() {
    let widget = Widget::mount(options(&[])).await;
    // One live region, the dialog's progress line: it must exist before it speaks.
    let statuses = widget.host.query_selector_all("[role=status]").unwrap();
    assert_eq!(statuses.length(), 1);
    assert_eq!(widget.progress(), "");
    // The error line is there but not displayed while empty: Firefox announces an alert
    // when it appears.
    let alert = widget.get("dialog [role=alert]");
    assert_eq!(alert.text_content().unwrap(), "");
    widget.open().await;
    assert!(
        alert.offset_height() == 0,
        "an empty alert is not displayed"
    );
    // The success sentence is empty (so not displayed) until then, and a group named by its
    // own text: focused, it is read once, with the account as its description.
    let done = widget.get(".unlink-done");
    assert_eq!(done.text_content().unwrap(), "");
    assert_eq!(done.get_attribute("role").as_deref(), Some("group"));
    assert_eq!(done.get_attribute("aria-labelledby"), Some(done.id()));
}

#[wasm_bindgen_test]
async fn lang_follows_the_locale() {
    for (locale, lang) in [(None, "en"), (Some("fr"), "fr"), (Some("en"), "en")] {
        let extra: Vec<(&str, JsValue)> =
            locale.map(|l| ("locale", l.into())).into_iter().collect();
        let widget = Widget::mount(options(&extra)).await;
        let root = widget.get(".unlink");
        assert_eq!(
            root.get_attribute("lang").as_deref(),
            Some(lang),
            "{locale:?}"
        );
    }
}

#[wasm_bindgen_test]
async fn two_widgets_have_distinct_ids() {
    let first = Widget::mount(options(&[])).await;
    let second = Widget::mount(options(&[("bank", "Kuda".into())])).await;
    let ids = |w: &Widget| {
        let nodes = w.host.query_selector_all("[id]").unwrap();
        (0..nodes.length())
            .map(|i| nodes.item(i).unwrap().unchecked_into::<Element>().id())
            .collect::<Vec<_>>()
    };
    let (a, b) = (ids(&first), ids(&second));
    assert_eq!(a.len(), 4);
    assert!(a.iter().all(|id| !b.contains(id)), "{a:?} vs {b:?}");
    for id in a.iter().chain(&b) {
        let all = document()
            .query_selector_all(&format!("[id='{id}']"))
            .unwrap();
        assert_eq!(all.length(), 1, "{id} is not unique on the page");
    }
    let description = text_of_ids(&second.dialog().get_attribute("aria-describedby").unwrap());
    assert!(description.contains("Kuda"));
}
