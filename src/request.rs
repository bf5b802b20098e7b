//! The one network call: `POST {endpoint}/accounts/{id}/unlink` to the partner's proxy.

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

async fn send(
    options: &Options,
    idempotency_key: &str,
    abort: &AbortController,
) -> Result<Reply, JsValue> {
    let headers = Headers::new()?;
    for (name, value) in &options.headers {
        headers.set(name, value)?;
    }
    headers.set("Accept", "application/json")?;
    headers.set("Idempotency-Key", idempotency_key)?;

    let init = RequestInit::new();
    init.set_method("POST");
    init.set_headers(&headers);
    init.set_credentials(match options.credentials {
        Credentials::SameOrigin => RequestCredentials::SameOrigin,
        Credentials::Include => RequestCredentials::Include,
        Credentials::Omit => RequestCredentials::Omit,
    });
    init.set_signal(Some(&abort.signal()));

    let window = web_sys::window().ok_or_else(|| JsValue::from_str("no window"))?;
    let response: Response =
        JsFuture::from(window.fetch_with_str_and_init(&options.unlink_url(), &init))
            .await?
            .dyn_into()?;

    let status = response.status();
    let header = |name: &str| response.headers().get(name).ok().flatten();
    let retry_after = header("retry-after").and_then(|value| {
        retry_after_seconds(&value).or_else(|| {
            // Retry-After may also be an HTTP date.
            let at = js_sys::Date::parse(&value);
            (!at.is_nan()).then(|| ((at - js_sys::Date::now()) / 1000.0).ceil().max(0.0) as u32)
        })
    });
    let already_unlinked = if response.ok() {
        already_unlinked(&response).await
    } else {
        false
    };
    Ok(Reply {
        outcome: classify(status, already_unlinked, retry_after),
        status: Some(status),
        request_id: header("x-request-id"),
    })
}

/// `data.already_unlinked` from the proxy's JSON. Any other body (or none) means `false`:
/// the 2xx status alone already says the account is unlinked.
async fn already_unlinked(response: &Response) -> bool {
    let Ok(text) = response.text() else {
        return false;
    };
    let Some(body) = JsFuture::from(text).await.ok().and_then(|t| t.as_string()) else {
        return false;
    };
    let Ok(json) = js_sys::JSON::parse(&body) else {
        return false;
    };
    let get = |object: &JsValue, key: &str| js_sys::Reflect::get(object, &key.into()).ok();
    get(&json, "data")
        .filter(|data| data.is_object())
        .and_then(|data| get(&data, "already_unlinked"))
        .and_then(|flag| flag.as_bool())
        .unwrap_or(false)
}
