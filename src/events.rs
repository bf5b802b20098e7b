//! `unlink:*` DOM events, so the partner's page can react (refresh a list, log analytics).

use wasm_bindgen::JsValue;
use web_sys::{CustomEvent, CustomEventInit, HtmlElement};

/// The events a widget dispatches. Their names are part of the public contract: `unlink.d.ts`
/// declares the same list, and a test checks the two agree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WidgetEvent {
    /// The dialog opened.
    Open,
    /// The user dismissed the dialog (Cancel or Escape).
    Cancel,
    /// The user confirmed; the request is on its way.
    Confirm,
    /// The account is unlinked.
    Success,
    /// The request failed; the dialog says why.
    Error,
}

impl WidgetEvent {
    #[cfg(test)]
    pub(crate) const ALL: [WidgetEvent; 5] = [
        Self::Open,
        Self::Cancel,
        Self::Confirm,
        Self::Success,
        Self::Error,
    ];

    /// The DOM event type.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Open => "unlink:open",
            Self::Cancel => "unlink:cancel",
            Self::Confirm => "unlink:confirm",
            Self::Success => "unlink:success",
            Self::Error => "unlink:error",
        }
    }
}

/// Dispatches `event` on `host` with a `detail` object made of `fields`. The event bubbles
/// and crosses shadow roots, so a listener on `document` hears every widget on the page.
pub(crate) fn emit(host: &HtmlElement, event: WidgetEvent, fields: &[(&str, JsValue)]) {
    let detail = js_sys::Object::new();
    for (key, value) in fields {
        let _ = js_sys::Reflect::set(&detail, &JsValue::from_str(key), value);
    }
    let init = CustomEventInit::new();
    init.set_bubbles(true);
    init.set_composed(true);
    init.set_detail(&detail);
    if let Ok(event) = CustomEvent::new_with_event_init_dict(event.name(), &init) {
        // Errors thrown by listeners are reported by the browser, not returned here.
        let _ = host.dispatch_event(&event);
    }
}

/// A JavaScript value for an optional field: the value, or `null`.
pub(crate) fn or_null<T: Into<JsValue>>(value: Option<T>) -> JsValue {
    value.map_or(JsValue::NULL, Into::into)
}
