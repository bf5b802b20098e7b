//! Browser tests: mount the real widget in a real browser (Chromium, Firefox and WebKit in
//! `make test`) and check what a user, or a screen reader, would find. `window.fetch` is
//! replaced by a fake that records each request and answers only when the test says so.
//!
//! Tests never sleep for a fixed time: they wait for the condition they need (the dialog
//! open, the request sent, the answer shown), so a loaded machine or a slower engine cannot
//! make them flaky. This module is the harness; the tests are grouped by concern beside it.

mod confirm;
mod dialog;
mod host;
mod markup;
mod outcomes;
mod status;

use std::{cell::RefCell, rc::Rc};

use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Document, Element, HtmlElement};

use crate::events::WidgetEvent;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

const ACCOUNT: &str = "60770aa8c5878a2af69ed849";

/// Longest wait for any condition, generous for a loaded CI machine.
const WAIT_LIMIT_MS: f64 = 5_000.0;

fn document() -> Document {
    web_sys::window().unwrap().document().unwrap()
}

/// Yields until the browser's next task: every microtask queued so far (the widget's
/// effects and futures run as microtasks) has run by then.
async fn next_task() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        web_sys::window()
            .unwrap()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 0)
            .unwrap();
    });
    JsFuture::from(promise).await.unwrap();
}

/// Waits until `ready()` holds, checking once per task, and fails naming `what` if it does
/// not within [`WAIT_LIMIT_MS`].
async fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let started = js_sys::Date::now();
    while !ready() {
        assert!(
            js_sys::Date::now() - started < WAIT_LIMIT_MS,
            "timed out waiting for {what}"
        );
        next_task().await;
    }
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
        for event in WidgetEvent::ALL {
            let events = events.clone();
            let listener = Closure::<dyn FnMut(_)>::new(move |event: web_sys::CustomEvent| {
                events.borrow_mut().push((event.type_(), event.detail()));
            });
            host.add_event_listener_with_callback(event.name(), listener.as_ref().unchecked_ref())
                .unwrap();
            listeners.push(listener);
        }
        let handle = crate::mount(host.clone().into(), options);
        wait_for("the widget to render", || host.child_element_count() > 0).await;
        // Leptos runs each effect for the first time in a later task; a real user cannot
        // act sooner than that, so neither do the tests.
        next_task().await;
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

    /// The root's `data-state`: idle, confirming, pending, failed or done.
    fn state(&self) -> String {
        self.get(".unlink").get_attribute("data-state").unwrap()
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

    /// The text of the dialog's `role=status` region (the "Unlinking…" line, written only
    /// once the answer takes a moment).
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

    /// Clicks the trigger and waits for the dialog, then for Cancel to take focus from it
    /// (the dialog holds focus for a moment first, so screen readers read it).
    async fn open(&self) {
        self.trigger().expect("trigger").click();
        wait_for("the dialog to open", || self.dialog().open()).await;
        wait_for("Cancel to take focus", || {
            is_focused(&self.button("Cancel"))
        })
        .await;
    }

    /// Clicks "Unlink account" and waits until the request is on its way.
    async fn confirm(&self) {
        self.button("Unlink account").click();
        wait_for("the pending state", || self.state() == "pending").await;
    }

    /// Waits until the answer to the request in flight has been shown (after success, the
    /// dialog closes a moment after focus has left it).
    async fn settled(&self) {
        wait_for("the answer to be shown", || {
            self.state() != "pending" && (self.state() != "done" || !self.dialog().open())
        })
        .await;
    }

    /// Waits until the dialog has been dismissed.
    async fn dismissed(&self) {
        wait_for("the dialog to close", || {
            self.state() == "idle" && !self.dialog().open()
        })
        .await;
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
/// the end-to-end tests.)
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
                    // The status look-up has no signal: nothing to abort.
                    let signal = field(&init, "signal").dyn_into::<web_sys::AbortSignal>();
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
                    if let Ok(signal) = signal {
                        signal
                            .add_event_listener_with_callback("abort", on_abort.unchecked_ref())
                            .unwrap();
                    }
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
