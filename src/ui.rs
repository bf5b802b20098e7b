//! The widget's markup: a trigger button, an alert dialog, and a status line.
//!
//! Built on the native `<dialog>` opened with `showModal()`: the browser then makes the page
//! behind inert, keeps Tab inside the dialog and hides the rest from assistive technology.

use leptos::{html, prelude::*};
use wasm_bindgen::JsValue;
use web_sys::{AbortController, HtmlElement, KeyboardEvent};

use crate::{
    events::{emit, or_null},
    machine::{Event, Phase},
    options::Options,
    outcome::Outcome,
    request,
    text::Key,
};

/// The whole widget for one bank account.
#[component]
pub fn UnlinkAccount(
    /// Checked options from the partner.
    options: Options,
    /// The element the widget is mounted in; `unlink:*` events are dispatched on it.
    host: HtmlElement,
) -> impl IntoView {
    let Ids {
        title_id,
        description_id,
        status_id,
    } = Ids::next();
    let texts = &options.texts;
    let [trigger_text, title, cancel, confirm] =
        [Key::Trigger, Key::Title, Key::Cancel, Key::Confirm].map(|key| texts.get(key).to_owned());
    let description = texts.description(options.bank.as_deref(), options.mask.as_deref());
    let (labelled_by, described_by) = (title_id.clone(), description_id.clone());
    let flow = Flow {
        phase: RwSignal::new(Phase::Idle),
        options: StoredValue::new(options),
        host: StoredValue::new_local(host),
        idempotency_key: StoredValue::new(None),
        in_flight: StoredValue::new_local(None),
        trigger: NodeRef::new(),
        dialog: NodeRef::new(),
        cancel: NodeRef::new(),
        status: NodeRef::new(),
    };
    // Unmounting mid-request aborts it: nobody is left to show the answer to.
    on_cleanup(move || {
        if let Some(Some(request)) = flow.in_flight.try_get_value() {
            request.abort();
        }
    });

    let phase = flow.phase;
    let done = move || matches!(phase.get(), Phase::Done { .. });
    let pending = move || phase.get() == Phase::Pending;
    let text = move |key| flow.options.with_value(|o| o.texts.get(key).to_owned());

    let view = view! {
        <div class="unlink" data-state=move || phase.get().name()>
            <Show when=move || !done()>
                <button
                    type="button"
                    class="unlink-trigger"
                    aria-haspopup="dialog"
                    node_ref=flow.trigger
                    on:click=move |_| flow.open()
                >
                    {trigger_text.clone()}
                </button>
            </Show>
            // Present and empty from the start: screen readers announce a live region's
            // changes, not its arrival. After success it replaces the trigger and takes focus.
            <p
                class="unlink-status"
                role="status"
                id=status_id
                tabindex=move || done().then_some("-1")
                node_ref=flow.status
            >
                {move || match phase.get() {
                    Phase::Done { already_unlinked: true } => text(Key::AlreadyUnlinked),
                    Phase::Done { already_unlinked: false } => text(Key::Success),
                    _ => String::new(),
                }}
            </p>
            <dialog
                class="unlink-dialog"
                role="alertdialog"
                aria-labelledby=labelled_by
                aria-describedby=described_by
                node_ref=flow.dialog
                on:keydown=move |ev: KeyboardEvent| {
                    // Escape cancels, except while pending: the dialog stays until the answer.
                    if ev.key() == "Escape" {
                        ev.prevent_default();
                        flow.dismiss();
                    }
                }
                on:cancel=move |ev: web_sys::Event| {
                    ev.prevent_default();
                    flow.dismiss();
                }
                on:close=move |_| flow.closed_by_browser()
            >
                <h2 class="unlink-title" id=title_id>{title}</h2>
                <p class="unlink-description" id=description_id>{description}</p>
                {move || match phase.get() {
                    Phase::Failed(failure) => {
                        let message = flow.options.with_value(|o| failure.message(&o.texts));
                        Some(view! { <p class="unlink-error" role="alert">{message}</p> })
                    }
                    _ => None,
                }}
                <p class="unlink-progress" role="status">
                    {move || if pending() { text(Key::Pending) } else { String::new() }}
                </p>
                <div class="unlink-actions">
                    // First in DOM order and autofocused: the least destructive choice.
                    <button
                        type="button"
                        class="unlink-button unlink-cancel"
                        autofocus
                        node_ref=flow.cancel
                        on:click=move |_| flow.dismiss()
                    >
                        {cancel}
                    </button>
                    // aria-disabled, not disabled: the button keeps focus while pending.
                    <button
                        type="button"
                        class="unlink-button unlink-confirm"
                        aria-disabled=move || pending().then_some("true")
                        on:click=move |_| flow.confirm()
                    >
                        {confirm}
                    </button>
                </div>
            </dialog>
        </div>
    };
    // Created after the view so it runs after the DOM shows the new state: the trigger is
    // gone, so focus moves to the status that replaced it rather than falling to <body>.
    Effect::new(move || {
        if done()
            && let Some(status) = flow.status.get_untracked()
        {
            let _ = status.focus();
        }
    });
    view
}

/// Shown instead of the widget when the partner's options are wrong. The details go to the
/// developer console; the end user gets one calm sentence.
#[component]
pub fn Misconfigured(
    /// The sentence to show.
    message: String,
) -> impl IntoView {
    view! { <p class="unlink unlink-misconfigured" data-state="misconfigured">{message}</p> }
}

/// Element ids unique to one widget, so several widgets can share a page.
struct Ids {
    title_id: String,
    description_id: String,
    status_id: String,
}

impl Ids {
    fn next() -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(1);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        Self {
            title_id: format!("unlink-{n}-title"),
            description_id: format!("unlink-{n}-description"),
            status_id: format!("unlink-{n}-status"),
        }
    }
}

/// Everything the event handlers share. All fields are `Copy` handles into the reactive
/// owner, so the flow is passed around by value.
#[derive(Clone, Copy)]
struct Flow {
    phase: RwSignal<Phase>,
    options: StoredValue<Options>,
    host: StoredValue<HtmlElement, LocalStorage>,
    /// One key per confirmation; a retry after a failure reuses it.
    idempotency_key: StoredValue<Option<String>>,
    in_flight: StoredValue<Option<AbortController>, LocalStorage>,
    trigger: NodeRef<html::Button>,
    dialog: NodeRef<html::Dialog>,
    cancel: NodeRef<html::Button>,
    status: NodeRef<html::P>,
}

impl Flow {
    /// Applies `event` if it is a legal move now; returns whether it was.
    fn step(self, event: Event) -> bool {
        self.phase
            .try_update(|phase| phase.next(event).map(|next| *phase = next))
            .flatten()
            .is_some()
    }

    fn emit(self, name: &str, extra: &[(&str, JsValue)]) {
        let account_id = self.options.with_value(|o| o.account_id.clone());
        let mut fields = vec![("accountId", JsValue::from(account_id))];
        fields.extend_from_slice(extra);
        self.host.with_value(|host| emit(host, name, &fields));
    }

    fn open(self) {
        if !self.step(Event::Open) {
            return;
        }
        self.idempotency_key.set_value(None);
        if let Some(dialog) = self.dialog.get_untracked() {
            let _ = dialog.show_modal();
        }
        // showModal() honours `autofocus`, but not in every engine: say it explicitly.
        if let Some(cancel) = self.cancel.get_untracked() {
            let _ = cancel.focus();
        }
        self.emit("unlink:open", &[]);
    }

    fn dismiss(self) {
        if !self.step(Event::Dismiss) {
            return;
        }
        self.idempotency_key.set_value(None);
        if let Some(dialog) = self.dialog.get_untracked() {
            dialog.close();
        }
        if let Some(trigger) = self.trigger.get_untracked() {
            let _ = trigger.focus();
        }
        self.emit("unlink:cancel", &[]);
    }

    /// A `close` event. Usually our own `close()`, but the browser can close the dialog by
    /// itself (Chrome does on a second Escape in a row, which a page cannot prevent). Keep the
    /// dialog up while pending; otherwise treat it as a cancel.
    fn closed_by_browser(self) {
        let Some(dialog) = self.dialog.get_untracked() else {
            return;
        };
        // The event is queued: by the time it arrives the dialog may be open again.
        if dialog.open() {
            return;
        }
        match self.phase.get_untracked() {
            Phase::Pending => {
                let _ = dialog.show_modal();
            }
            phase if phase.is_open() => self.dismiss(),
            _ => {}
        }
    }

    fn confirm(self) {
        // A second click or Enter while pending is not a move, so it sends nothing.
        if !self.step(Event::Confirm) {
            return;
        }
        let key = self
            .idempotency_key
            .try_update_value(|key| key.get_or_insert_with(new_idempotency_key).clone())
            .unwrap_or_default();
        let Ok(abort) = AbortController::new() else {
            self.settle(request::Reply {
                outcome: Outcome::Failed(crate::outcome::Failure::Network),
                status: None,
                request_id: None,
            });
            return;
        };
        self.in_flight.set_value(Some(abort.clone()));
        self.emit("unlink:confirm", &[("idempotencyKey", key.clone().into())]);
        let options = self.options.get_value();
        leptos::task::spawn_local(async move {
            let reply = request::unlink(&options, &key, &abort).await;
            // The widget may be gone by now; then there is nothing to update.
            let _ = self.in_flight.try_set_value(None);
            if let Some(reply) = reply {
                self.settle(reply);
            }
        });
    }

    fn settle(self, reply: request::Reply) {
        if !self.step(Event::Settled(reply.outcome)) {
            return;
        }
        let status = or_null(reply.status);
        let request_id = or_null(reply.request_id);
        match reply.outcome {
            Outcome::Unlinked { already } => {
                if let Some(dialog) = self.dialog.get_untracked() {
                    dialog.close();
                }
                self.emit(
                    "unlink:success",
                    &[
                        ("status", status),
                        ("alreadyUnlinked", already.into()),
                        ("requestId", request_id),
                    ],
                );
            }
            Outcome::Failed(failure) => {
                let retry_after = match failure {
                    crate::outcome::Failure::RateLimited { retry_after } => or_null(retry_after),
                    _ => JsValue::NULL,
                };
                self.emit(
                    "unlink:error",
                    &[
                        ("status", status),
                        ("code", failure.code().into()),
                        ("retryAfter", retry_after),
                        ("requestId", request_id),
                    ],
                );
            }
        }
    }
}

/// A random (version 4) UUID from the browser's CSPRNG. `crypto.randomUUID()` would be
/// shorter but only exists on HTTPS pages; `getRandomValues` works everywhere.
fn new_idempotency_key() -> String {
    let mut bytes = [0u8; 16];
    let filled = web_sys::window()
        .and_then(|w| w.crypto().ok())
        .is_some_and(|crypto| crypto.get_random_values_with_u8_array(&mut bytes).is_ok());
    if !filled {
        for byte in &mut bytes {
            *byte = (js_sys::Math::random() * 256.0) as u8;
        }
    }
    let mut buffer = uuid::Uuid::encode_buffer();
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .encode_lower(&mut buffer)
        .to_owned()
}
