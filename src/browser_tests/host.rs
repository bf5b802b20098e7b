//! Living in the partner's page: events, unmounting, bad options and wording.

use std::{cell::RefCell, rc::Rc};

use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use wasm_bindgen_test::wasm_bindgen_test;
use web_sys::HtmlElement;

use super::*;

#[wasm_bindgen_test]
async fn events_bubble_to_the_document() {
    let seen: Rc<RefCell<Vec<String>>> = Rc::default();
    let record = seen.clone();
    let listener = Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
        record.borrow_mut().push(event.type_());
    });
    document()
        .add_event_listener_with_callback("unlink:open", listener.as_ref().unchecked_ref())
        .unwrap();
    let widget = Widget::mount(options(&[])).await;
    widget.open().await;
    document()
        .remove_event_listener_with_callback("unlink:open", listener.as_ref().unchecked_ref())
        .unwrap();
    assert_eq!(*seen.borrow(), ["unlink:open"]);
}

#[wasm_bindgen_test]
async fn unmount_removes_everything_and_aborts_the_request() {
    let fetch = FakeFetch::install();
    let mut widget = Widget::mount(options(&[])).await;
    widget.open().await;
    widget.confirm().await;
    wait_for("the request", || fetch.count() == 1).await;
    widget.handle.unmount();
    assert_eq!(widget.host.inner_html(), "");
    assert!(fetch.last().signal().aborted());
    // The aborted request settles nothing and tells nobody.
    next_task().await;
    assert_eq!(widget.event_names(), ["unlink:open", "unlink:confirm"]);
    // A second unmount is harmless.
    widget.handle.unmount();
}

#[wasm_bindgen_test]
async fn events_reaching_an_unmounted_widget_are_harmless() {
    let mut widget = Widget::mount(options(&[])).await;
    widget.open().await;
    let (dialog, cancel) = (widget.dialog(), widget.button("Cancel"));
    widget.handle.unmount();
    // Whatever a detached dialog still receives must not panic (a panic would stop every
    // widget on the page). `close` is queued, so wait until the detached dialog's handlers
    // have really seen it.
    let closed = Rc::new(std::cell::Cell::new(false));
    let seen = closed.clone();
    let on_close = Closure::<dyn FnMut()>::new(move || seen.set(true));
    dialog
        .add_event_listener_with_callback("close", on_close.as_ref().unchecked_ref())
        .unwrap();
    press_escape(&dialog);
    dialog.close();
    cancel.click();
    wait_for("the detached dialog's close event", || closed.get()).await;
    let other = Widget::mount(options(&[])).await;
    other.open().await;
    assert!(other.dialog().open());
}

#[wasm_bindgen_test]
async fn letting_go_of_the_handle_keeps_the_widget() {
    let host: HtmlElement = document().create_element("div").unwrap().unchecked_into();
    document().body().unwrap().append_child(&host).unwrap();
    // What the garbage collector does to a handle the page did not keep.
    drop(crate::mount(host.clone().into(), options(&[])));
    let trigger = host.query_selector(".unlink-trigger").unwrap().unwrap();
    trigger.unchecked_ref::<HtmlElement>().click();
    wait_for("the dialog to open", || {
        host.query_selector("dialog[open]").unwrap().is_some()
    })
    .await;
    host.remove();
}

#[wasm_bindgen_test]
async fn bad_options_show_a_calm_sentence_and_log_why() {
    let console = web_sys::window().unwrap().get("console").unwrap();
    let original = field(&console, "error");
    let logged: Rc<RefCell<Vec<String>>> = Rc::default();
    let record = logged.clone();
    let spy = Closure::<dyn FnMut(JsValue)>::new(move |message: JsValue| {
        record
            .borrow_mut()
            .push(message.as_string().unwrap_or_default());
    });
    js_sys::Reflect::set(&console, &"error".into(), spy.as_ref()).unwrap();

    let missing = js_sys::Object::new();
    js_sys::Reflect::set(&missing, &"locale".into(), &"fr".into()).unwrap();
    let widget = Widget::mount(missing.into()).await;
    let unknown_locale = Widget::mount(options(&[
        ("locale", "de".into()),
        ("checkStatus", "yes".into()),
    ]))
    .await;
    let not_an_element = crate::mount(JsValue::NULL, options(&[]));
    js_sys::Reflect::set(&console, &"error".into(), &original).unwrap();

    assert!(widget.trigger().is_none());
    assert_eq!(
        widget.get(".unlink-misconfigured").text_content().unwrap(),
        "La dissociation n’est pas disponible pour le moment."
    );
    assert_eq!(
        unknown_locale
            .get(".unlink-misconfigured")
            .text_content()
            .unwrap(),
        "Unlinking isn’t available right now."
    );
    {
        let logged = logged.borrow();
        assert_eq!(logged.len(), 3);
        assert!(logged[0].contains("`accountId` (attribute `account-id`) is required"));
        assert!(logged[0].contains("`endpoint` is required"));
        assert!(logged[1].contains("`locale` \"de\" is not supported"));
        assert!(logged[1].contains("`checkStatus` must be true or false"));
        assert!(logged[2].contains("must be an HTML element"));
    }
    drop(not_an_element);

    // Other widgets on the page keep working.
    let fine = Widget::mount(options(&[])).await;
    fine.open().await;
}

#[wasm_bindgen_test]
async fn french_and_partner_wording() {
    let text = js_sys::Object::new();
    js_sys::Reflect::set(&text, &"trigger".into(), &"Retirer ce compte".into()).unwrap();
    let widget = Widget::mount(options(&[("locale", "fr".into()), ("text", text.into())])).await;
    assert_eq!(
        widget.trigger().unwrap().text_content().unwrap(),
        "Retirer ce compte"
    );
    let dialog = widget.dialog();
    assert_eq!(
        text_of_ids(&dialog.get_attribute("aria-labelledby").unwrap()),
        "Dissocier le compte bancaire\u{202F}?"
    );
    widget.button("Annuler");
    widget.button("Dissocier le compte");
}
