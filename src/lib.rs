//! # unlink-widget
//!
//! An "Unlink bank account" button and confirmation dialog that a partner embeds in any web
//! page. Confirming sends one `POST {endpoint}/accounts/{id}/unlink` to the partner's own
//! proxy, which holds the Mono secret key; this code never sees it.
//!
//! JavaScript reaches this crate through `unlink.js` (see `js/`), which loads the wasm,
//! defines `<unlink-account>` and wraps [`mount`].

mod events;
mod machine;
mod options;
mod outcome;
mod request;
mod text;
mod ui;

#[cfg(all(test, target_arch = "wasm32"))]
mod browser_tests;
#[cfg(test)]
mod contract_tests;

use std::any::Any;

use leptos::{mount::mount_to, prelude::*};
use wasm_bindgen::prelude::*;

use crate::{
    options::RawOptions,
    text::{Key, Locale, Texts},
    ui::{InFlight, UnlinkAccount},
};

/// A mounted widget. `unmount()` removes everything it added to the page.
#[wasm_bindgen]
pub struct WidgetHandle {
    mounted: Option<Mounted>,
}

enum Mounted {
    /// Leptos's unmount handle (its type names the whole view, so it is kept as `Any`).
    Widget {
        view: Box<dyn Any>,
        in_flight: InFlight,
    },
    /// The "not available" sentence shown for bad options.
    Message(web_sys::Element),
}

#[wasm_bindgen]
impl WidgetHandle {
    /// Removes the widget's DOM, aborts a request in flight and frees its state. Calling it
    /// again does nothing.
    pub fn unmount(&mut self) {
        match self.mounted.take() {
            Some(Mounted::Widget { view, in_flight }) => {
                if let Some(request) = in_flight.take() {
                    request.abort();
                }
                drop(view);
            }
            Some(Mounted::Message(element)) => element.remove(),
            None => {}
        }
    }
}

impl Drop for WidgetHandle {
    /// A handle the page lets go of (the garbage collector calls `free()`) must not take the
    /// widget with it: only `unmount()` removes it.
    fn drop(&mut self) {
        if let Some(Mounted::Widget { view, .. }) = self.mounted.take() {
            std::mem::forget(view);
        }
    }
}

/// Renders the widget into `element` with `options` (see the README's options table).
///
/// Bad options never throw or panic: the problems are logged with `console.error`, and the
/// element shows a short "not available" sentence instead of the button.
#[wasm_bindgen]
pub fn mount(element: JsValue, options: JsValue) -> WidgetHandle {
    let Ok(host) = element.dyn_into::<web_sys::HtmlElement>() else {
        report(&JsValue::NULL, &[options::OptionError::NotAnElement]);
        return WidgetHandle { mounted: None };
    };
    let raw = RawOptions::from_js(&options);
    let locale = raw
        .locale
        .as_deref()
        .and_then(Locale::parse)
        .unwrap_or_default();
    let mounted = match raw.validate() {
        Ok(options) => {
            let in_flight = InFlight::default();
            let (parent, shared) = (host.clone(), in_flight.clone());
            let view = mount_to(parent, move || {
                view! { <UnlinkAccount options host in_flight=shared /> }
            });
            Some(Mounted::Widget {
                view: Box::new(view),
                in_flight,
            })
        }
        Err(errors) => {
            report(&host, &errors);
            misconfigured(&host, Texts::new(locale, vec![]).get(Key::Misconfigured))
                .map(Mounted::Message)
        }
    };
    WidgetHandle { mounted }
}

/// The calm sentence an end user sees when the partner's options are wrong. Static text,
/// so plain DOM rather than a component (which would cost kilobytes of wasm).
fn misconfigured(host: &web_sys::HtmlElement, message: &str) -> Option<web_sys::Element> {
    let element = host.owner_document()?.create_element("p").ok()?;
    element.set_class_name("unlink unlink-misconfigured");
    let _ = element.set_attribute("data-state", "misconfigured");
    element.set_text_content(Some(message));
    host.append_child(&element).ok()?;
    Some(element)
}
/// One console error listing every problem, with the element so DevTools can point at it.
fn report(element: &JsValue, errors: &[options::OptionError]) {
    let mut message = String::from("unlink-widget: cannot show the Unlink button:");
    for error in errors {
        message.push_str("\n  - ");
        message.push_str(&error.to_string());
    }
    web_sys::console::error_2(&message.into(), element);
}
