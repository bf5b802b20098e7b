//! Browser tests: mount the real widget in headless Chromium and check what a user (or a
//! screen reader) would find. `window.fetch` is replaced by a fake that records each request
//! and answers only when the test says so.

use std::{cell::RefCell, rc::Rc};

use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;
use web_sys::{Document, Element, HtmlElement};

wasm_bindgen_test_configure!(run_in_browser);

const ACCOUNT: &str = "60770aa8c5878a2af69ed849";

// Test harness ---------------------------------------------------------------------------

fn document() -> Document {
    web_sys::window().unwrap().document().unwrap()
}

/// Waits for the fake fetch's answer to reach the widget and for Leptos to render it.
async fn settle() {
    sleep(10).await;
}

async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        web_sys::window()
            .unwrap()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms)
            .unwrap();
    });
    JsFuture::from(promise).await.unwrap();
}

fn options(extra: &[(&str, JsValue)]) -> JsValue {
    let object = js_sys::Object::new();
    let mut fields = vec![
        ("accountId", JsValue::from(ACCOUNT)),
        ("endpoint", "/api/mono".into()),
        ("bank", "GTBank".into()),
        ("mask", "1234".into()),
    ];
    fields.extend_from_slice(extra);
    for (key, value) in fields {
        js_sys::Reflect::set(&object, &key.into(), &value).unwrap();
    }
    object.into()
}

/// A widget mounted into a fresh element, with every `unlink:*` event it fires.
struct Widget {
    host: HtmlElement,
    handle: crate::WidgetHandle,
    events: Rc<RefCell<Vec<(String, JsValue)>>>,
    _listeners: Vec<Closure<dyn FnMut(web_sys::CustomEvent)>>,
}

impl Widget {
    async fn mount(options: JsValue) -> Self {
        let host: HtmlElement = document().create_element("div").unwrap().unchecked_into();
        document().body().unwrap().append_child(&host).unwrap();
        let events = Rc::new(RefCell::new(Vec::new()));
        let mut listeners = Vec::new();
        for name in [
            "unlink:open",
            "unlink:cancel",
            "unlink:confirm",
            "unlink:success",
            "unlink:error",
        ] {
            let events = events.clone();
            let listener = Closure::<dyn FnMut(_)>::new(move |event: web_sys::CustomEvent| {
                events.borrow_mut().push((event.type_(), event.detail()));
            });
            host.add_event_listener_with_callback(name, listener.as_ref().unchecked_ref())
                .unwrap();
            listeners.push(listener);
        }
        let handle = crate::mount(host.clone().into(), options);
        settle().await;
        Self {
            host,
            handle,
            events,
            _listeners: listeners,
        }
    }

    fn find(&self, selector: &str) -> Option<HtmlElement> {
        self.host
            .query_selector(selector)
            .unwrap()
            .map(|e| e.unchecked_into())
    }

    fn get(&self, selector: &str) -> HtmlElement {
        self.find(selector)
            .unwrap_or_else(|| panic!("no {selector} in {}", self.host.inner_html()))
    }

    fn trigger(&self) -> Option<HtmlElement> {
        self.find(".unlink-trigger")
    }

    fn dialog(&self) -> web_sys::HtmlDialogElement {
        self.get("dialog").unchecked_into()
    }

    fn button(&self, name: &str) -> HtmlElement {
        let buttons = self.host.query_selector_all("dialog button").unwrap();
        (0..buttons.length())
            .map(|i| buttons.item(i).unwrap().unchecked_into::<HtmlElement>())
            .find(|b| b.text_content().unwrap_or_default() == name)
            .unwrap_or_else(|| panic!("no button {name:?}"))
    }

    /// The text of the dialog's `role=alert` element, if it says anything.
    fn alert(&self) -> Option<String> {
        let text = self.get("dialog [role=alert]").text_content().unwrap();
        (!text.is_empty()).then_some(text)
    }

    /// The text of the dialog's `role=status` region (the "Unlinking…" line).
    fn progress(&self) -> String {
        self.get("dialog [role=status]").text_content().unwrap()
    }

    fn event_names(&self) -> Vec<String> {
        self.events
            .borrow()
            .iter()
            .map(|(name, _)| name.clone())
            .collect()
    }

    fn last_detail(&self, name: &str) -> JsValue {
        self.events
            .borrow()
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, detail)| detail.clone())
            .unwrap_or_else(|| panic!("no {name} event"))
    }

    async fn open(&self) {
        self.trigger().expect("trigger").click();
        settle().await;
    }

    async fn confirm(&self) {
        self.button("Unlink account").click();
        settle().await;
    }
}

impl Drop for Widget {
    fn drop(&mut self) {
        self.handle.unmount();
        self.host.remove();
    }
}

fn field(object: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(object, &key.into()).unwrap()
}

fn active_element() -> Option<Element> {
    document().active_element()
}

fn is_focused(element: &HtmlElement) -> bool {
    active_element().is_some_and(|active| &active == element.unchecked_ref::<Element>())
}

/// The text an `aria-labelledby` / `aria-describedby` id list points at.
fn text_of_ids(ids: &str) -> String {
    ids.split_whitespace()
        .map(|id| {
            document()
                .get_element_by_id(id)
                .unwrap_or_else(|| panic!("no element #{id}"))
                .text_content()
                .unwrap()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// What the browser does when the user presses Escape in a modal dialog: a cancelable
/// `cancel` event, then `close` unless it was cancelled. (Real key presses are covered by
/// the Playwright tests.)
fn press_escape(dialog: &web_sys::HtmlDialogElement) {
    let init = web_sys::EventInit::new();
    init.set_cancelable(true);
    let cancel = web_sys::Event::new_with_event_init_dict("cancel", &init).unwrap();
    if dialog.dispatch_event(&cancel).unwrap() {
        dialog.close();
    }
}

/// A request the widget sent to the fake `fetch`.
struct Call {
    url: String,
    init: JsValue,
    resolve: js_sys::Function,
    reject: js_sys::Function,
}

impl Call {
    fn header(&self, name: &str) -> Option<String> {
        let headers: web_sys::Headers = field(&self.init, "headers").unchecked_into();
        headers.get(name).unwrap()
    }

    fn answer(&self, status: u16, body: &str, headers: &[(&str, &str)]) {
        let init = web_sys::ResponseInit::new();
        init.set_status(status);
        let response_headers = web_sys::Headers::new().unwrap();
        for (name, value) in headers {
            response_headers.set(name, value).unwrap();
        }
        init.set_headers(&response_headers);
        let body = (!body.is_empty()).then_some(body);
        let response = web_sys::Response::new_with_opt_str_and_init(body, &init).unwrap();
        self.resolve.call1(&JsValue::NULL, &response).unwrap();
    }

    fn fail(&self) {
        let error = js_sys::TypeError::new("Failed to fetch");
        self.reject.call1(&JsValue::NULL, &error).unwrap();
    }

    fn signal(&self) -> web_sys::AbortSignal {
        field(&self.init, "signal").unchecked_into()
    }
}

/// Replaces `window.fetch` while alive. Each call is recorded and left pending; it rejects
/// with an AbortError when its signal aborts, as the real fetch does.
struct FakeFetch {
    calls: Rc<RefCell<Vec<Call>>>,
    original: JsValue,
    _fake: Closure<dyn FnMut(JsValue, JsValue) -> js_sys::Promise>,
}

impl FakeFetch {
    fn install() -> Self {
        let window = web_sys::window().unwrap();
        let original = field(&window, "fetch");
        let calls: Rc<RefCell<Vec<Call>>> = Rc::default();
        let recorded = calls.clone();
        let fake = Closure::<dyn FnMut(JsValue, JsValue) -> js_sys::Promise>::new(
            move |url: JsValue, init: JsValue| {
                let recorded = recorded.clone();
                js_sys::Promise::new(&mut |resolve, reject| {
                    let signal: web_sys::AbortSignal = field(&init, "signal").unchecked_into();
                    let on_abort = {
                        let reject = reject.clone();
                        Closure::once_into_js(move || {
                            let error = web_sys::DomException::new_with_message_and_name(
                                "aborted",
                                "AbortError",
                            )
                            .unwrap();
                            reject.call1(&JsValue::NULL, &error).unwrap();
                        })
                    };
                    signal
                        .add_event_listener_with_callback("abort", on_abort.unchecked_ref())
                        .unwrap();
                    recorded.borrow_mut().push(Call {
                        url: url.as_string().unwrap(),
                        init: init.clone(),
                        resolve,
                        reject,
                    });
                })
            },
        );
        js_sys::Reflect::set(&window, &"fetch".into(), fake.as_ref()).unwrap();
        Self {
            calls,
            original,
            _fake: fake,
        }
    }

    fn count(&self) -> usize {
        self.calls.borrow().len()
    }

    fn last(&self) -> std::cell::Ref<'_, Call> {
        std::cell::Ref::map(self.calls.borrow(), |calls| {
            calls.last().expect("no request sent")
        })
    }
}

impl Drop for FakeFetch {
    fn drop(&mut self) {
        let window = web_sys::window().unwrap();
        js_sys::Reflect::set(&window, &"fetch".into(), &self.original).unwrap();
    }
}

fn is_uuid_v4(key: &str) -> bool {
    let groups: Vec<&str> = key.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && key
            .chars()
            .all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        && groups[2].starts_with('4')
        && groups[3].starts_with(['8', '9', 'a', 'b'])
}

// Markup and ARIA ------------------------------------------------------------------------

#[wasm_bindgen_test]
async fn trigger_is_a_plain_button() {
    let widget = Widget::mount(options(&[])).await;
    let trigger = widget.trigger().unwrap();
    assert_eq!(trigger.tag_name(), "BUTTON");
    assert_eq!(trigger.get_attribute("type").as_deref(), Some("button"));
    assert_eq!(trigger.text_content().unwrap(), "Unlink bank account");
    assert!(
        !trigger.class_name().contains("confirm"),
        "the trigger is not the danger style"
    );
    assert!(!widget.dialog().open());
}

#[wasm_bindgen_test]
async fn dialog_is_an_alertdialog_named_and_described() {
    let widget = Widget::mount(options(&[])).await;
    let dialog = widget.dialog();
    assert_eq!(dialog.tag_name(), "DIALOG");
    assert_eq!(dialog.get_attribute("role").as_deref(), Some("alertdialog"));
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
    let statuses = widget.host.query_selector_all("[role=status]").unwrap();
    assert_eq!(statuses.length(), 2);
    for i in 0..statuses.length() {
        assert_eq!(statuses.item(i).unwrap().text_content().unwrap(), "");
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
    assert_eq!(a.len(), 2);
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

// Opening, cancelling --------------------------------------------------------------------

#[wasm_bindgen_test]
async fn opening_shows_a_modal_and_focuses_cancel() {
    let widget = Widget::mount(options(&[])).await;
    widget.open().await;
    let dialog = widget.dialog();
    assert!(dialog.open());
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
        settle().await;
        assert!(!widget.dialog().open(), "{how}");
        assert_eq!(fetch.count(), 0, "{how}");
        assert!(is_focused(&widget.trigger().unwrap()), "{how}");
        assert_eq!(
            widget.event_names(),
            ["unlink:open", "unlink:cancel"],
            "{how}"
        );
    }
}

// Confirming -----------------------------------------------------------------------------

#[wasm_bindgen_test]
async fn double_click_sends_exactly_one_request() {
    let fetch = FakeFetch::install();
    let widget = Widget::mount(options(&[])).await;
    widget.open().await;
    let confirm = widget.button("Unlink account");
    for _ in 0..4 {
        confirm.click();
    }
    settle().await;
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

    assert_eq!(
        confirm.get_attribute("aria-disabled").as_deref(),
        Some("true")
    );
    assert!(!confirm.has_attribute("disabled"));
    assert!(is_focused(&confirm), "focus stays on the busy button");
    assert_eq!(widget.progress(), "Unlinking…");

    // Escape and Cancel do nothing until the request settles.
    press_escape(&widget.dialog());
    widget.button("Cancel").click();
    settle().await;
    assert!(widget.dialog().open());
    assert_eq!(fetch.count(), 1);
    assert!(!widget.event_names().contains(&"unlink:cancel".to_owned()));

    fetch.last().answer(500, "", &[]);
    settle().await;
    assert_eq!(confirm.get_attribute("aria-disabled"), None);
    assert_eq!(widget.progress(), "");
}

// Outcomes -------------------------------------------------------------------------------

async fn error_for(answer: impl FnOnce(&Call)) -> (Widget, FakeFetch) {
    let fetch = FakeFetch::install();
    let widget = Widget::mount(options(&[])).await;
    widget.open().await;
    widget.confirm().await;
    answer(&fetch.last());
    settle().await;
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
        let (widget, _fetch) = error_for(|call| call.answer(status, body, headers)).await;
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
    let (widget, _fetch) = error_for(Call::fail).await;
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
    assert!(!fetch.last().signal().aborted());
    sleep(1100).await;
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
    let (widget, fetch) = error_for(|call| call.answer(503, "", &[])).await;
    let first_key = fetch.last().header("idempotency-key").unwrap();
    assert!(widget.alert().is_some());

    // "Unlink account" retries the same confirmation, with the same key.
    widget.confirm().await;
    assert_eq!(fetch.count(), 2);
    assert_eq!(fetch.last().header("idempotency-key").unwrap(), first_key);
    assert_eq!(
        widget.alert(),
        None,
        "the old error is cleared while retrying"
    );
    fetch.last().answer(503, "", &[]);
    settle().await;

    // Cancel, then open again: no stale error, focus on Cancel, and a new key.
    widget.button("Cancel").click();
    settle().await;
    widget.open().await;
    assert_eq!(widget.alert(), None);
    let active = active_element().map(|e| e.outer_html());
    assert!(
        is_focused(&widget.button("Cancel")),
        "{active:?} {}",
        widget.host.inner_html()
    );
    widget.confirm().await;
    assert_ne!(fetch.last().header("idempotency-key").unwrap(), first_key);
}

#[wasm_bindgen_test]
async fn success_replaces_the_trigger_with_a_focused_status() {
    let (widget, _fetch) = error_for(|call| {
        call.answer(
            200,
            r#"{"status":"successful","data":{"already_unlinked":false}}"#,
            &[("x-request-id", "req-1")],
        )
    })
    .await;
    assert!(!widget.dialog().open());
    assert!(widget.trigger().unwrap().hidden(), "the trigger is gone");
    let status = widget.get(".unlink-status");
    assert_eq!(status.get_attribute("role").as_deref(), Some("status"));
    assert_eq!(status.text_content().unwrap(), "Bank account unlinked.");
    assert_eq!(status.get_attribute("tabindex").as_deref(), Some("-1"));
    assert!(is_focused(&status));
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
    let (widget, _fetch) = error_for(|call| call.answer(200, body, &[])).await;
    assert_eq!(
        widget.get(".unlink-status").text_content().unwrap(),
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
        let (widget, _fetch) = error_for(|call| call.answer(status, body, &[])).await;
        assert_eq!(
            widget.get(".unlink-status").text_content().unwrap(),
            "Bank account unlinked.",
            "{body:?}"
        );
    }
}

// Host integration -----------------------------------------------------------------------

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
    widget.handle.unmount();
    settle().await;
    assert_eq!(widget.host.inner_html(), "");
    assert!(fetch.last().signal().aborted());
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
    settle().await;
    // Whatever a detached dialog still receives must not panic (a panic would stop every
    // widget on the page).
    press_escape(&dialog);
    dialog.close();
    cancel.click();
    settle().await;
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
    settle().await;
    let trigger = host.query_selector(".unlink-trigger").unwrap().unwrap();
    trigger.unchecked_ref::<HtmlElement>().click();
    settle().await;
    assert!(host.query_selector("dialog[open]").unwrap().is_some());
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
    let unknown_locale = Widget::mount(options(&[("locale", "de".into())])).await;
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
        assert!(logged[2].contains("must be an HTML element"));
    }
    drop(not_an_element);

    // Other widgets on the page keep working.
    let fine = Widget::mount(options(&[])).await;
    fine.open().await;
    assert!(fine.dialog().open());
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
