//! `unlink:*` DOM events, so the partner's page can react (refresh a list, log analytics).

use wasm_bindgen::JsValue;
use web_sys::{CustomEvent, CustomEventInit, HtmlElement};

/// Dispatches `name` on `host` with a `detail` object made of `fields`. The event bubbles and
/// crosses shadow roots, so a listener on `document` hears every widget on the page.
pub fn emit(host: &HtmlElement, name: &str, fields: &[(&str, JsValue)]) {
    let detail = js_sys::Object::new();
    for (key, value) in fields {
        let _ = js_sys::Reflect::set(&detail, &JsValue::from_str(key), value);
    }
    let init = CustomEventInit::new();
    init.set_bubbles(true);
    init.set_composed(true);
    init.set_detail(&detail);
    if let Ok(event) = CustomEvent::new_with_event_init_dict(name, &init) {
        // Errors thrown by listeners are reported by the browser, not returned here.
        let _ = host.dispatch_event(&event);
    }
}

/// A JavaScript value for an optional field: the value, or `null`.
pub fn or_null<T: Into<JsValue>>(value: Option<T>) -> JsValue {
    value.map_or(JsValue::NULL, Into::into)
}
