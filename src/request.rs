//! The widget's calls to the partner's proxy: `POST {endpoint}/accounts/{id}/unlink`, and,
//! with `checkStatus`, one `GET {endpoint}/accounts/{id}` on mount.

use std::{cell::Cell, rc::Rc, time::Duration};

use leptos::prelude::set_timeout_with_handle;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, Headers, RequestCredentials, RequestInit, Response};

use crate::{
    options::{Credentials, Options},
    outcome::{Failure, Outcome, classify, retry_after_seconds},
};

/// What came back, for the state machine and for `unlink:*` event listeners.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Reply {
    pub outcome: Outcome,
    /// The HTTP status, or `None` when there was no answer.
    pub status: Option<u16>,
    /// The proxy's `x-request-id`, for support tickets.
    pub request_id: Option<String>,
}

/// Sends the request and waits for its answer, at most `options.timeout_ms`.
///
/// `abort` cancels it from outside (the widget was unmounted); then there is nobody left to
/// tell, and this returns `None`.
pub(crate) async fn unlink(
    options: &Options,
    idempotency_key: &str,
    abort: &AbortController,
) -> Option<Reply> {
    let timed_out = Rc::new(Cell::new(false));
    let timer = {
        let (timed_out, abort) = (timed_out.clone(), abort.clone());
        set_timeout_with_handle(
            move || {
                timed_out.set(true);
                abort.abort();
            },
            Duration::from_millis(options.timeout_ms.into()),
        )
        .ok()
    };
    let sent = send(options, idempotency_key, abort).await;
    if let Some(timer) = timer {
        timer.clear();
    }
    match sent {
        Ok(reply) => Some(reply),
        Err(_) if timed_out.get() => Some(no_answer(Failure::Timeout)),
        Err(_) if abort.signal().aborted() => None,
        Err(_) => Some(no_answer(Failure::Network)),
    }
}

fn no_answer(failure: Failure) -> Reply {
    Reply {
        outcome: Outcome::Failed(failure),
        status: None,
        request_id: None,
    }
}

/// Starts `fetch(url)` with the partner's headers and credentials mode, asking for JSON.
fn start(
    options: &Options,
    method: &str,
    url: &str,
    idempotency_key: Option<&str>,
    abort: Option<&AbortController>,
) -> Result<js_sys::Promise, JsValue> {
    let headers = Headers::new()?;
    for (name, value) in &options.headers {
        headers.set(name, value)?;
    }
    headers.set("Accept", "application/json")?;
    if let Some(key) = idempotency_key {
        headers.set("Idempotency-Key", key)?;
    }

    let init = RequestInit::new();
    init.set_method(method);
    init.set_headers(&headers);
    init.set_credentials(match options.credentials {
        Credentials::SameOrigin => RequestCredentials::SameOrigin,
        Credentials::Include => RequestCredentials::Include,
        Credentials::Omit => RequestCredentials::Omit,
    });
    if let Some(abort) = abort {
        init.set_signal(Some(&abort.signal()));
    }
    let window = web_sys::window().ok_or_else(|| JsValue::from_str("no window"))?;
    Ok(window.fetch_with_str_and_init(url, &init))
}

async fn send(
    options: &Options,
    idempotency_key: &str,
    abort: &AbortController,
) -> Result<Reply, JsValue> {
    let url = options.unlink_url();
    let sent = start(options, "POST", &url, Some(idempotency_key), Some(abort))?;
    let response: Response = JsFuture::from(sent).await?.dyn_into()?;

    let status = response.status();
    let header = |name: &str| response.headers().get(name).ok().flatten();
    let retry_after = header("retry-after").and_then(|value| {
        retry_after_seconds(&value).or_else(|| {
            // Retry-After may also be an HTTP date.
            let at = js_sys::Date::parse(&value);
            (!at.is_nan()).then(|| ((at - js_sys::Date::now()) / 1000.0).ceil().max(0.0) as u32)
        })
    });
    // `data.already_unlinked` from the proxy's JSON. Any other body (or none) means `false`:
    // the 2xx status alone already says the account is unlinked.
    let already_unlinked = response.ok()
        && data_field(&response, "already_unlinked")
            .await
            .and_then(|v| v.as_bool())
            == Some(true);
    Ok(Reply {
        outcome: classify(status, already_unlinked, retry_after),
        status: Some(status),
        request_id: header("x-request-id"),
    })
}

/// `data[key]` from a JSON answer; `None` for any other body, or none.
async fn data_field(response: &Response, key: &str) -> Option<JsValue> {
    let json = JsFuture::from(response.json().ok()?).await.ok()?;
    let get = |object: &JsValue, key: &str| js_sys::Reflect::get(object, &key.into()).ok();
    get(&json, "data")
        .filter(JsValue::is_object)
        .and_then(|data| get(&data, key))
}

thread_local! {
    /// Look-ups whose answer a widget has acted on, so browser tests can wait for one.
    #[cfg(test)]
    pub(crate) static LOOKUPS_SETTLED: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };

    /// Status look-ups by URL: the request's promise, or `None` once an unlink here
    /// succeeded. Widgets for the same account share one request, and a widget mounted again
    /// (an attribute changed, a framework re-rendered it) asks nobody: never more requests
    /// than widgets on a page.
    static LOOKUPS: std::cell::RefCell<Vec<(String, Option<js_sys::Promise>)>> = Default::default();
}

/// Whether the proxy's record shows the account unlinked. Anything else (linked, unknown, a
/// failure, a backend without the route) is `false`: the widget then offers the button.
pub(crate) async fn unlinked_on_record(options: &Options) -> bool {
    let url = options.status_url();
    let known = LOOKUPS.with_borrow(|lookups| {
        lookups
            .iter()
            .rev()
            .find_map(|(u, asked)| (*u == url).then(|| asked.clone()))
    });
    let asked = match known {
        Some(None) => return true,
        Some(Some(asked)) => asked,
        None => {
            let Ok(asked) = start(options, "GET", &url, None, None) else {
                return false;
            };
            LOOKUPS.with_borrow_mut(|lookups| lookups.push((url, Some(asked.clone()))));
            asked
        }
    };
    // Each widget reads its own copy of the one answer (a body can be read only once).
    let Ok(response) = JsFuture::from(asked)
        .await
        .and_then(|answer| Response::clone(answer.unchecked_ref()))
    else {
        return false;
    };
    response.ok() && data_field(&response, "state").await == Some("unlinked".into())
}

/// After a successful unlink: a widget mounted again for this account knows without asking.
pub(crate) fn remember_unlinked(options: &Options) {
    let url = options.status_url();
    // Pushed after any earlier look-up of it: the last entry for a URL is the one read.
    LOOKUPS.with_borrow_mut(|lookups| lookups.push((url, None)));
}
