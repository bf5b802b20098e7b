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

use leptos::{mount::mount_to, prelude::*, tachys::view::any_view::AnyViewState};
use wasm_bindgen::prelude::*;

use crate::{
    options::RawOptions,
    text::{Key, Locale, Texts},
    ui::{Misconfigured, UnlinkAccount},
};

/// A mounted widget. `unmount()` removes everything it added to the page.
#[wasm_bindgen]
pub struct WidgetHandle {
    mounted: Option<leptos::mount::UnmountHandle<AnyViewState>>,
}

#[wasm_bindgen]
impl WidgetHandle {
    /// Removes the widget's DOM, aborts a request in flight and frees its state. Calling it
    /// again does nothing.
    pub fn unmount(&mut self) {
        self.mounted.take();
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
    let checked = raw.validate();
    if let Err(errors) = &checked {
        report(&host, errors);
    }
    let parent = host.clone();
    let mounted = mount_to(parent, move || match checked {
        Ok(options) => view! { <UnlinkAccount options host /> }.into_any(),
        Err(_) => {
            let message = Texts::new(locale, vec![])
                .get(Key::Misconfigured)
                .to_owned();
            view! { <Misconfigured message /> }.into_any()
        }
    });
    WidgetHandle {
        mounted: Some(mounted),
    }
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
