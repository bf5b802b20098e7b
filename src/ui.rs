//! The widget's markup: a trigger button, a confirmation dialog, and the sentence that
//! replaces the trigger after success.
//!
//! Built on the native `<dialog>` opened with `showModal()`: the browser then makes the page
//! behind inert, hides the rest from assistive technology and turns Escape into a `cancel`
//! event. What a screen reader says at each step was listened to (Orca with Chromium and
//! Firefox, `tests/screen-reader/`); the comments below give what each choice changed.
//!
//! Size note: every reactive closure, node ref and stored value adds a kilobyte or so of
//! WebAssembly for every end user. So the markup is static apart from what must change, and
//! event handlers share one `Rc<Flow>` that finds its elements by class inside the host.

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
    sync::Arc,
};

use leptos::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{AbortController, HtmlDialogElement, HtmlElement};

use crate::{
    events::{WidgetEvent, emit, or_null},
    machine::{Event, Phase},
    options::Options,
    outcome::{Failure, Outcome},
    request::{self, Reply},
    text::Key,
};

/// The request in flight, if any. Shared with the mount handle so unmounting can abort it.
pub(crate) type InFlight = Rc<RefCell<Option<AbortController>>>;

/// The whole widget for one bank account.
// `#[component]` gives the generated props struct `pub` visibility of its own.
#[allow(unreachable_pub)]
#[component]
pub(crate) fn UnlinkAccount(
    /// Checked options from the partner.
    options: Options,
    /// The element the widget is mounted in; `unlink:*` events are dispatched on it.
    host: HtmlElement,
    /// Where the widget keeps its request in flight.
    in_flight: InFlight,
) -> impl IntoView {
    let n = next_instance();
    let [title_id, description_id, account_id, done_id] =
        ["title", "description", "account", "done"].map(|part| format!("unlink-{n}-{part}"));
    let (labelled_by, described_by) = (title_id.clone(), description_id.clone());
    let texts = Arc::new(options.texts.clone());
    let [trigger_text, title, cancel, confirm] =
        [Key::Trigger, Key::Title, Key::Cancel, Key::Confirm].map(|key| texts.get(key).to_owned());
    let account = texts.account(options.bank.as_deref(), options.mask.as_deref());
    let description = texts.description(&account);
    let lang = texts.locale().tag();

    let phase = RwSignal::new(Phase::Idle);
    let flow = Rc::new(Flow {
        phase,
        options,
        host,
        idempotency_key: RefCell::new(None),
        in_flight,
        focus_when_done: Cell::new(true),
    });
    let done = move || matches!(phase.get(), Phase::Done { .. });
    let pending = move || (phase.get() == Phase::Pending).then_some("true");
    let (done_text, error_text) = {
        let (a, b) = (texts.clone(), texts);
        (
            move || phase.get().status_text(&a),
            move || phase.get().error_text(&b),
        )
    };

    let (open, dismiss, confirm_click, on_cancel, on_close, on_key) = (
        flow.clone(),
        flow.clone(),
        flow.clone(),
        flow.clone(),
        flow.clone(),
        flow.clone(),
    );
    let view = view! {
        // `lang`: a French widget on an English page is read with a French voice.
        <div class="unlink" lang=lang data-state=move || phase.get().name()>
            // No aria-haspopup: WebKit would call the button a pop-up button or combo box.
            // The description names the account, so three such buttons on a page differ.
            // Hidden rather than removed after success, when the sentence below takes its place.
            <button
                type="button"
                class="unlink-trigger"
                aria-describedby=account_id.clone()
                hidden=done
                on:click=move |_| open.open()
            >
                {trigger_text}
            </button>
            <span id=account_id.clone() hidden>{account}</span>
            // After success: the visible outcome, in the trigger's place and given its focus,
            // which is how it is heard (a live region was not heard in Firefox and heard
            // twice in Chromium). A group named by its own sentence: a focused paragraph is
            // read twice by Chromium (its name, then its text), a plain div not at all by
            // Firefox. Empty (and so not displayed, see the CSS) until then.
            <p
                class="unlink-done"
                id=done_id.clone()
                role="group"
                tabindex="-1"
                aria-labelledby=done_id
                aria-describedby=account_id
            >
                {done_text}
            </p>
            // `dialog`, not `alertdialog`: Chromium reads an alert dialog about three times
            // on open. Opening focuses the dialog (its question and consequence are read
            // once), then Cancel (see `Flow::open`).
            <dialog
                class="unlink-dialog"
                aria-labelledby=labelled_by
                aria-describedby=described_by
                autofocus
                // Focusable for that first moment, but not a Tab stop of its own.
                tabindex="-1"
                // Escape (and other close requests) cancel, except while pending: the dialog
                // stays until the answer, so the outcome is shown where the user is.
                on:cancel=move |ev: web_sys::Event| {
                    ev.prevent_default();
                    on_cancel.dismiss();
                }
                on:close=move |_| on_close.closed_by_browser()
                on:keydown=move |ev: web_sys::KeyboardEvent| on_key.wrap_tab(&ev)
            >
                <h2 class="unlink-title" id=title_id>{title}</h2>
                <p class="unlink-description" id=description_id>{description}</p>
                // Not displayed while empty (see the CSS): Firefox announces an alert when it
                // appears, not when its text changes.
                <p class="unlink-error" role="alert">{error_text}</p>
                // "Unlinking…", written by `Flow::confirm` only if the answer takes a moment.
                <p class="unlink-progress" role="status"></p>
                <div class="unlink-actions">
                    // First in DOM order and focused on open: the least destructive choice.
                    // While pending it does nothing (the answer is on its way), and says so.
                    <button
                        type="button"
                        class="unlink-button unlink-cancel"
                        aria-disabled=pending
                        on:click=move |_| dismiss.dismiss()
                    >
                        {cancel}
                    </button>
                    // aria-disabled, not disabled: the button keeps focus while pending.
                    <button
                        type="button"
                        class="unlink-button unlink-confirm"
                        aria-disabled=pending
                        on:click=move |_| confirm_click.confirm()
                    >
                        {confirm}
                    </button>
                </div>
            </dialog>
        </div>
    };
    // `checkStatus`: one look-up, only once the widget is in the page (an element built and
    // never inserted asks nobody). The trigger shows meanwhile: a slow or failing proxy
    // never keeps the user from unlinking.
    if flow.options.check_status && flow.host.is_connected() {
        let flow = flow.clone();
        leptos::task::spawn_local(async move {
            if request::unlinked_on_record(&flow.options).await {
                flow.found_unlinked();
            }
            #[cfg(test)]
            request::LOOKUPS_SETTLED.set(request::LOOKUPS_SETTLED.get() + 1);
        });
    }
    // Created after the view, so it runs once the DOM shows the new state: the trigger is
    // hidden, so focus moves to the sentence that replaced it instead of falling to <body>.
    Effect::new(move || {
        if done() && flow.focus_when_done.get() {
            flow.focus(".unlink-done");
        }
    });
    view
}

/// A number unique to each widget on the page, for element ids.
fn next_instance() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Everything the event handlers share.
struct Flow {
    phase: RwSignal<Phase>,
    options: Options,
    host: HtmlElement,
    /// One key per confirmation; a retry after a failure reuses it.
    idempotency_key: RefCell<Option<String>>,
    in_flight: InFlight,
    /// Whether reaching `Done` moves focus to its sentence: always after an unlink (focus
    /// was in the dialog); after a status look-up only if the trigger had it, so a page
    /// that loads never has its focus taken.
    focus_when_done: Cell<bool>,
}

impl Flow {
    /// Applies `event` if it is a legal move now; returns whether it was.
    fn step(&self, event: Event) -> bool {
        self.phase
            .try_update(|phase| phase.next(event).map(|next| *phase = next))
            .flatten()
            .is_some()
    }

    /// The widget's own element matching `selector` (never one of another widget's).
    fn find<T: JsCast>(&self, selector: &str) -> Option<T> {
        self.host.query_selector(selector).ok()??.dyn_into().ok()
    }

    fn dialog(&self) -> Option<HtmlDialogElement> {
        self.find(".unlink-dialog")
    }

    fn focus(&self, selector: &str) {
        if let Some(element) = self.find::<HtmlElement>(selector) {
            let _ = element.focus();
        }
    }

    fn emit(&self, event: WidgetEvent, extra: &[(&str, JsValue)]) {
        let mut fields = vec![("accountId", JsValue::from(&self.options.account_id))];
        fields.extend_from_slice(extra);
        emit(&self.host, event, &fields);
    }

    fn open(self: &Rc<Self>) {
        if !self.step(Event::Open) {
            return;
        }
        self.idempotency_key.replace(None);
        let Some(dialog) = self.dialog() else {
            return;
        };
        let _ = dialog.show_modal();
        // The dialog first, so screen readers read its question and consequence (Firefox
        // says only "Cancel" when focus lands on a button in a dialog that just opened),
        // then Cancel a moment later, once they have. Unless the user has moved already.
        let _ = dialog.focus();
        let flow = self.clone();
        set_timeout(
            move || {
                if flow.find::<HtmlElement>(".unlink-dialog:focus").is_some() {
                    flow.focus(".unlink-cancel");
                    // Focus scrolls a dialog taller than the screen (400 % zoom, a landscape
                    // phone) down to Cancel; the question comes first.
                    dialog.set_scroll_top(0);
                }
            },
            SCREEN_READER_MOMENT,
        );
        self.emit(WidgetEvent::Open, &[]);
    }

    /// Tab and Shift+Tab go round the dialog's two buttons, as the APG dialog pattern asks:
    /// otherwise Tab from the last one leaves the page for the browser's toolbar.
    fn wrap_tab(&self, ev: &web_sys::KeyboardEvent) {
        if ev.key() != "Tab" {
            return;
        }
        let (first, last) = (".unlink-cancel:focus", ".unlink-confirm:focus");
        let (from, to) = if ev.shift_key() {
            (first, ".unlink-confirm")
        } else {
            (last, ".unlink-cancel")
        };
        if self.find::<HtmlElement>(from).is_some() {
            ev.prevent_default();
            self.focus(to);
        }
    }

    fn dismiss(&self) {
        if !self.step(Event::Dismiss) {
            return;
        }
        self.idempotency_key.replace(None);
        if let Some(dialog) = self.dialog() {
            dialog.close();
        }
        self.focus(".unlink-trigger");
        self.emit(WidgetEvent::Cancel, &[]);
    }

    /// A `close` event. Usually our own `close()`, but the browser can close the dialog by
    /// itself (Chrome does on a second Escape in a row, which a page cannot prevent). Keep the
    /// dialog up while pending; otherwise treat it as a cancel.
    fn closed_by_browser(&self) {
        let Some(dialog) = self.dialog() else {
            return;
        };
        // The event is queued: by the time it arrives the dialog may be open again.
        if dialog.open() {
            return;
        }
        // `try_`: after unmount the signal is gone, and a panic would stop every widget.
        match self.phase.try_get_untracked() {
            // showModal() focuses Cancel, which does nothing while pending: put focus back
            // on "Unlink account", where the answer (and a retry) will be.
            Some(Phase::Pending) => {
                let _ = dialog.show_modal();
                self.focus(".unlink-confirm");
            }
            Some(phase) if phase.is_open() => self.dismiss(),
            _ => {}
        }
    }

    fn confirm(self: &Rc<Self>) {
        // A second click or Enter while pending is not a move, so it sends nothing.
        if !self.step(Event::Confirm) {
            return;
        }
        let key = self
            .idempotency_key
            .borrow_mut()
            .get_or_insert_with(new_idempotency_key)
            .clone();
        self.emit(
            WidgetEvent::Confirm,
            &[("idempotencyKey", JsValue::from(&key))],
        );
        let Ok(abort) = AbortController::new() else {
            return self.settle(Reply {
                outcome: Outcome::Failed(Failure::Network),
                status: None,
                request_id: None,
            });
        };
        self.in_flight.replace(Some(abort.clone()));
        // "Unlinking…" only if the answer takes a moment: a fast answer is heard alone, and
        // a progress line queued behind it is never heard after the outcome.
        let flow = self.clone();
        set_timeout(
            move || {
                if flow.phase.try_get_untracked() == Some(Phase::Pending) {
                    flow.set_progress(Some(flow.options.texts.get(Key::Pending)));
                }
            },
            PROGRESS_AFTER,
        );
        let flow = self.clone();
        leptos::task::spawn_local(async move {
            let reply = request::unlink(&flow.options, &key, &abort).await;
            flow.in_flight.replace(None);
            // `None`: aborted because the widget was unmounted. Nothing is left to update.
            if let Some(reply) = reply {
                flow.settle(reply);
            }
        });
    }

    /// The record says the account is already unlinked: the sentence takes the trigger's
    /// place, as after an unlink, but quietly (nothing happened now, so nothing is announced).
    fn found_unlinked(&self) {
        let focused = self.find::<HtmlElement>(".unlink-trigger:focus").is_some();
        self.focus_when_done.set(focused);
        self.step(Event::FoundUnlinked);
    }

    fn settle(&self, reply: Reply) {
        let event = Event::Settled(reply.outcome);
        if self
            .phase
            .with_untracked(|phase| phase.next(event))
            .is_none()
        {
            return;
        }
        // Success: focus moves to the sentence while the dialog is still in the page (no
        // longer modal, and invisible), which closes a moment later. Focus that leaves a
        // dialog already closed comes from an object Orca with Chromium finds dead, and the
        // sentence it lands on is not said.
        if matches!(reply.outcome, Outcome::Unlinked { .. })
            && let Some(dialog) = self.dialog()
        {
            dialog.close();
            dialog.show();
            let _ = dialog.set_attribute("data-closing", "");
            set_timeout(
                move || {
                    dialog.close();
                    let _ = dialog.remove_attribute("data-closing");
                },
                SCREEN_READER_MOMENT,
            );
        }
        self.step(event);
        self.set_progress(None);
        let status = or_null(reply.status);
        let request_id = or_null(reply.request_id);
        match reply.outcome {
            Outcome::Unlinked { already } => {
                request::remember_unlinked(&self.options);
                self.emit(
                    WidgetEvent::Success,
                    &[
                        ("status", status),
                        ("alreadyUnlinked", already.into()),
                        ("requestId", request_id),
                    ],
                );
            }
            Outcome::Failed(failure) => {
                // Usually already there, unless the browser closed and we re-opened the
                // dialog while pending: Enter on the focused button retries.
                self.focus(".unlink-confirm");
                let retry_after = match failure {
                    Failure::RateLimited { retry_after } => or_null(retry_after),
                    _ => JsValue::NULL,
                };
                self.emit(
                    WidgetEvent::Error,
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

impl Flow {
    /// Writes (or clears) the dialog's progress line. Plain DOM writes rather than a
    /// signal: a reactive text costs every end user a kilobyte.
    fn set_progress(&self, text: Option<&str>) {
        if let Some(line) = self.find::<HtmlElement>(".unlink-progress") {
            line.set_text_content(text);
        }
    }
}

/// How long a screen reader is given to take in one change before the next: the dialog
/// keeps focus that long before Cancel takes it, and after success the dialog stays (unseen)
/// that long once focus has moved out of it. Orca with Firefox needed more than one task;
/// 150 ms was heard in every run, and is too short for anyone to notice.
const SCREEN_READER_MOMENT: std::time::Duration = std::time::Duration::from_millis(150);

/// How long an answer may take before the dialog says "Unlinking…".
const PROGRESS_AFTER: std::time::Duration = std::time::Duration::from_millis(400);

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
