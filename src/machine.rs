//! The widget's states and the only moves between them.
//!
//! Keeping this a plain function makes the rules easy to test: a second click while a request
//! is pending, or Escape during it, is simply not a move.

use crate::{
    outcome::{Failure, Outcome},
    text::{Key, Texts},
};

/// Where one widget is in the unlink flow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Phase {
    /// The trigger button is showing; the dialog is closed.
    #[default]
    Idle,
    /// The dialog is open and waiting for the user.
    Confirming,
    /// The request is in flight; the dialog stays open until it settles.
    Pending,
    /// The request failed; the dialog shows why and "Unlink account" retries.
    Failed(Failure),
    /// The account is unlinked. Nothing more can happen.
    Done { already_unlinked: bool },
}

/// Something the user or the network did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// The trigger was activated.
    Open,
    /// Cancel or Escape.
    Dismiss,
    /// "Unlink account" was activated.
    Confirm,
    /// The request finished.
    Settled(Outcome),
    /// The proxy's record says the account is already unlinked (`checkStatus`).
    FoundUnlinked,
}

impl Phase {
    /// The phase after `event`, or `None` when the event means nothing now and must be ignored.
    pub(crate) fn next(self, event: Event) -> Option<Phase> {
        use {Event as E, Phase as P};
        Some(match (self, event) {
            (P::Idle, E::Open) => P::Confirming,
            (P::Confirming | P::Failed(_), E::Dismiss) => P::Idle,
            (P::Confirming | P::Failed(_), E::Confirm) => P::Pending,
            (P::Pending, E::Settled(Outcome::Unlinked { already })) => P::Done {
                already_unlinked: already,
            },
            (P::Pending, E::Settled(Outcome::Failed(failure))) => P::Failed(failure),
            // Only while nothing has started: a user already in the dialog carries on, and
            // the unlink itself then answers "already unlinked".
            (P::Idle, E::FoundUnlinked) => P::Done {
                already_unlinked: true,
            },
            _ => return None,
        })
    }

    /// Whether the dialog is showing.
    pub(crate) fn is_open(self) -> bool {
        matches!(self, Phase::Confirming | Phase::Pending | Phase::Failed(_))
    }

    /// The sentence that replaces the trigger after success; empty before.
    pub(crate) fn status_text(self, texts: &Texts) -> String {
        match self {
            Phase::Done {
                already_unlinked: true,
            } => texts.get(Key::AlreadyUnlinked).to_owned(),
            Phase::Done { .. } => texts.get(Key::Success).to_owned(),
            _ => String::new(),
        }
    }

    /// The dialog's alert line: why the last attempt failed, if it did.
    pub(crate) fn error_text(self, texts: &Texts) -> String {
        match self {
            Phase::Failed(failure) => failure.message(texts),
            _ => String::new(),
        }
    }

    /// The `data-state` attribute, for partners' CSS and for tests.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::Confirming => "confirming",
            Phase::Pending => "pending",
            Phase::Failed(_) => "failed",
            Phase::Done { .. } => "done",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Event::*;

    const UNLINKED: Event = Settled(Outcome::Unlinked { already: false });
    const FAILED: Event = Settled(Outcome::Failed(Failure::Server));

    fn run(events: &[Event]) -> Phase {
        events.iter().fold(Phase::Idle, |phase, &event| {
            phase.next(event).unwrap_or(phase)
        })
    }

    #[test]
    fn happy_path() {
        assert_eq!(run(&[Open]), Phase::Confirming);
        assert_eq!(run(&[Open, Confirm]), Phase::Pending);
        assert_eq!(
            run(&[Open, Confirm, UNLINKED]),
            Phase::Done {
                already_unlinked: false
            }
        );
        assert_eq!(
            run(&[Open, Confirm, Settled(Outcome::Unlinked { already: true })]),
            Phase::Done {
                already_unlinked: true
            }
        );
    }

    #[test]
    fn cancel_returns_to_idle_and_reopens_fresh() {
        assert_eq!(run(&[Open, Dismiss]), Phase::Idle);
        assert_eq!(run(&[Open, Confirm, FAILED, Dismiss]), Phase::Idle);
        // The failure is gone after re-opening.
        assert_eq!(
            run(&[Open, Confirm, FAILED, Dismiss, Open]),
            Phase::Confirming
        );
    }

    #[test]
    fn pending_ignores_second_confirm_and_dismiss() {
        assert_eq!(Phase::Pending.next(Confirm), None);
        assert_eq!(Phase::Pending.next(Dismiss), None);
        assert_eq!(Phase::Pending.next(Open), None);
    }

    #[test]
    fn failure_keeps_dialog_open_and_allows_retry() {
        let failed = run(&[Open, Confirm, FAILED]);
        assert_eq!(failed, Phase::Failed(Failure::Server));
        assert!(failed.is_open());
        assert_eq!(failed.next(Confirm), Some(Phase::Pending));
    }

    #[test]
    fn a_status_lookup_replaces_only_an_untouched_trigger() {
        let already = Phase::Done {
            already_unlinked: true,
        };
        assert_eq!(run(&[FoundUnlinked]), already);
        // The user got there first: the dialog stays, the answer is ignored.
        assert_eq!(run(&[Open, FoundUnlinked]), Phase::Confirming);
        assert_eq!(run(&[Open, Confirm, FoundUnlinked]), Phase::Pending);
        assert_eq!(
            run(&[Open, Confirm, FAILED, FoundUnlinked]),
            Phase::Failed(Failure::Server)
        );
        let done = run(&[Open, Confirm, UNLINKED]);
        assert_eq!(done.next(FoundUnlinked), None);
        // Nothing moves on from it.
        assert_eq!(already.next(Open), None);
    }

    #[test]
    fn stray_events_are_ignored() {
        assert_eq!(Phase::Idle.next(Confirm), None);
        assert_eq!(Phase::Idle.next(Dismiss), None);
        assert_eq!(Phase::Idle.next(UNLINKED), None);
        assert_eq!(Phase::Confirming.next(UNLINKED), None);
        assert_eq!(Phase::Confirming.next(Open), None);
        let done = Phase::Done {
            already_unlinked: false,
        };
        for event in [Open, Dismiss, Confirm, UNLINKED, FAILED, FoundUnlinked] {
            assert_eq!(done.next(event), None, "{event:?}");
        }
    }

    #[test]
    fn each_live_region_speaks_only_in_its_phase() {
        let texts = Texts::default();
        let all = [
            Phase::Idle,
            Phase::Confirming,
            Phase::Pending,
            Phase::Failed(Failure::NotAllowed),
            Phase::Done {
                already_unlinked: false,
            },
            Phase::Done {
                already_unlinked: true,
            },
        ];
        let spoken = |text: fn(Phase, &Texts) -> String| {
            all.iter()
                .map(|&phase| text(phase, &texts))
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            spoken(Phase::status_text),
            [
                "Bank account unlinked.",
                "This bank account was already unlinked."
            ]
        );
        assert_eq!(
            spoken(Phase::error_text),
            ["You aren’t allowed to unlink this account."]
        );
    }

    #[test]
    fn open_and_names() {
        assert!(!Phase::Idle.is_open());
        assert!(Phase::Confirming.is_open());
        assert!(Phase::Pending.is_open());
        assert!(
            !Phase::Done {
                already_unlinked: true
            }
            .is_open()
        );
        assert_eq!(Phase::Failed(Failure::Timeout).name(), "failed");
    }
}
