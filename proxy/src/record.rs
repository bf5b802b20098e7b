//! The audit trail's vocabulary: what kind of row, what happened, and where the answer came
//! from. Each is an enum with one `as_str()`, so a typo cannot write a row nobody can find,
//! and every store reads and writes the same words.
//!
//! The trail is append-only. An unlink that reaches Mono leaves two rows: an `intent`,
//! committed before Mono is called, and an `unlink` row with the outcome, pointing at its
//! intent. A crash between the two leaves an intent alone: start-up marks it
//! `outcome_unknown`, and a later answer from Mono about the account resolves it.

use std::{fmt, str::FromStr};

use serde::{Serialize, Serializer};

macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vmeta])* $variant,)* }

        impl $name {
            /// Every value, for tests and for listings.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The word stored in the trail.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }
        }

        impl FromStr for $name {
            type Err = UnknownWord;

            fn from_str(word: &str) -> Result<Self, Self::Err> {
                match word {
                    $($text => Ok($name::$variant),)*
                    _ => Err(UnknownWord { vocabulary: stringify!($name), word: word.to_owned() }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
    };
}

/// A word in a stored row that this version does not know (a newer proxy wrote it, or the
/// file was edited by hand).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownWord {
    /// Which vocabulary (`Kind`, `Outcome`, `Source`).
    pub vocabulary: &'static str,
    /// The word found.
    pub word: String,
}

impl fmt::Display for UnknownWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown {} {:?} in the audit trail",
            self.vocabulary, self.word
        )
    }
}

impl std::error::Error for UnknownWord {}

vocabulary! {
    /// What a row records.
    Kind {
        /// Written before Mono is called: who asked to unlink what, with which key.
        Intent = "intent",
        /// The answer to one unlink request (refused, replayed, shared or sent to Mono).
        Unlink = "unlink",
        /// Mono's webhook saying an account was unlinked.
        Webhook = "webhook",
        /// A later Mono answer settling an intent whose outcome was unknown.
        Resolution = "resolution",
    }
}

vocabulary! {
    /// What happened. The answer codes the proxy sends are outcomes too; the success ones
    /// and the ones only the trail knows are added.
    Outcome {
        /// Mono unlinked the account.
        Unlinked = "unlinked",
        /// Mono no longer knew the account (its JSON 404).
        AlreadyUnlinked = "already_unlinked",
        /// The authoriser said no.
        Forbidden = "forbidden",
        /// Over the per-user limit.
        RateLimited = "rate_limited",
        /// The key belongs to another user or account.
        IdempotencyKeyReused = "idempotency_key_reused",
        /// Mono refused this unlink (another 4xx).
        UnlinkRejected = "unlink_rejected",
        /// Mono failed, was unreachable, or did not answer in time.
        UpstreamUnavailable = "upstream_unavailable",
        /// Mono rejected the secret key (401/403).
        UpstreamRejectedKey = "upstream_rejected_key",
        /// Mono's URL answered something that is not Mono's answer (a 404 page from a
        /// gateway, a wrong path): the account was *not* unlinked.
        UpstreamUnexpected = "upstream_unexpected",
        /// The outcome could not be written within the deadline (it lands later).
        AuditUnavailable = "audit_unavailable",
        /// The proxy stopped between the intent and Mono's answer: the account may or may
        /// not have been unlinked. Settled by a later answer from Mono (a `resolution`).
        OutcomeUnknown = "outcome_unknown",
        /// Webhook: Mono says the account is unlinked.
        AccountUnlinked = "account_unlinked",
        /// Written by 0.1, which recorded malformed requests; no longer written.
        InvalidAccountId = "invalid_account_id",
        /// Written by 0.1; no longer written.
        InvalidIdempotencyKey = "invalid_idempotency_key",
    }
}

impl Outcome {
    /// A final outcome: the account is gone, so the same `Idempotency-Key` replays it
    /// instead of asking Mono again. Every other outcome lets a retry try again.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Unlinked | Self::AlreadyUnlinked)
    }
}

vocabulary! {
    /// Where an `unlink` row's answer came from.
    Source {
        /// This request's own call to Mono.
        Upstream = "upstream",
        /// Another request's call to Mono for the same account, already under way.
        Shared = "shared",
        /// A final outcome stored earlier for the same `Idempotency-Key`.
        Replay = "replay",
        /// Decided by the proxy without Mono (a refusal).
        Proxy = "proxy",
        /// Mono's webhook.
        Webhook = "webhook",
        /// Start-up, finding an intent a crash left without an outcome.
        Recovery = "recovery",
        /// The record: the account was unlinked on record within the replay window, so
        /// nobody called Mono again.
        Record = "record",
        /// Written by 0.1 for refusals; no longer written.
        None = "none",
    }
}

vocabulary! {
    /// Why an unlink was asked for: recorded on every row of it, so an auditor can tell a
    /// user's click from an erasure request or an offboarding run.
    Reason {
        /// The user asked (the widget's button).
        UserRequest = "user_request",
        /// The user closed their account with the partner.
        AccountClosed = "account_closed",
        /// An erasure request (NDPR, GDPR).
        ErasureRequest = "erasure_request",
        /// The partner is offboarding accounts (product shut down, migration, key rotation).
        Offboarding = "offboarding",
        /// Anything else; say what in your own records.
        Other = "other",
    }
}

vocabulary! {
    /// Through which door an unlink came.
    Via {
        /// The widget's route, `POST {prefix}/accounts/{id}/unlink`.
        Widget = "widget",
        /// The service route for partners' backends, `POST {prefix}/service/accounts/{id}/unlink`.
        Service = "service",
        /// `unlink-proxy unlink`, from an operator's terminal or a job.
        Cli = "cli",
        /// A Rust backend calling the library (`Unlinker`).
        Library = "library",
    }
}

/// One row of the trail. Build it with [`Entry::new`]; `id` and `ts` are filled in by the
/// store when it is written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Its place in the trail, in order of writing.
    pub id: i64,
    /// When it was written: RFC 3339, UTC, milliseconds.
    pub ts: String,
    /// What the row records.
    pub kind: Kind,
    /// The request's `X-Request-Id`.
    pub request_id: Option<String>,
    /// Who asked, as the authoriser named them.
    pub principal: Option<String>,
    /// The Mono account.
    pub account_id: Option<String>,
    /// The request's `Idempotency-Key`.
    pub idempotency_key: Option<String>,
    /// The client's address.
    pub client_ip: Option<String>,
    /// `None` only for intents, whose outcome is another row.
    pub outcome: Option<Outcome>,
    /// Where the answer came from.
    pub source: Option<Source>,
    /// Mono's last HTTP status, if Mono was called and answered.
    pub upstream_status: Option<u16>,
    /// Calls to Mono this request made.
    pub attempts: u32,
    /// From the request's arrival to its answer.
    pub latency_ms: Option<i64>,
    /// For `unlink` and `resolution` rows: the intent they settle.
    pub intent_id: Option<i64>,
    /// Free text for the operator (a webhook's event name, why a row was marked).
    pub detail: Option<String>,
    /// Why the unlink was asked for.
    pub reason: Option<Reason>,
    /// Through which door it came.
    pub via: Option<Via>,
}

impl Entry {
    /// A row of `kind` with `outcome` and everything else empty.
    pub fn new(kind: Kind, outcome: Option<Outcome>) -> Self {
        Self {
            id: 0,
            ts: String::new(),
            kind,
            request_id: None,
            principal: None,
            account_id: None,
            idempotency_key: None,
            client_ip: None,
            outcome,
            source: None,
            upstream_status: None,
            attempts: 0,
            latency_ms: None,
            intent_id: None,
            detail: None,
            reason: None,
            via: None,
        }
    }

    /// Checks the row makes sense before it is written: an intent has no outcome yet,
    /// every other row has one, and settling rows name their intent.
    pub fn validate(&self) -> Result<(), &'static str> {
        match (self.kind, self.outcome) {
            (Kind::Intent, Some(_)) => Err("an intent row has no outcome"),
            (Kind::Intent, None) if self.account_id.is_none() => {
                Err("an intent row names its account")
            }
            (Kind::Unlink | Kind::Webhook | Kind::Resolution, None) => {
                Err("only intent rows lack an outcome")
            }
            (Kind::Resolution, Some(_)) if self.intent_id.is_none() => {
                Err("a resolution row names the intent it settles")
            }
            (Kind::Intent, None) | (Kind::Unlink | Kind::Webhook | Kind::Resolution, Some(_)) => {
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_reads_back() {
        for kind in Kind::ALL {
            assert_eq!(kind.as_str().parse::<Kind>(), Ok(*kind));
        }
        for outcome in Outcome::ALL {
            assert_eq!(outcome.as_str().parse::<Outcome>(), Ok(*outcome));
        }
        for source in Source::ALL {
            assert_eq!(source.as_str().parse::<Source>(), Ok(*source));
        }
        for reason in Reason::ALL {
            assert_eq!(reason.as_str().parse::<Reason>(), Ok(*reason));
        }
        for via in Via::ALL {
            assert_eq!(via.as_str().parse::<Via>(), Ok(*via));
        }
        let error = "exploded".parse::<Outcome>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown Outcome \"exploded\" in the audit trail"
        );
    }

    #[test]
    fn only_the_account_being_gone_is_final() {
        let finals: Vec<_> = Outcome::ALL.iter().filter(|o| o.is_final()).collect();
        assert_eq!(finals, [&Outcome::Unlinked, &Outcome::AlreadyUnlinked]);
    }

    #[test]
    fn rows_that_make_no_sense_are_refused() {
        let mut intent = Entry::new(Kind::Intent, None);
        assert!(intent.validate().is_err(), "no account");
        intent.account_id = Some("acc".into());
        assert!(intent.validate().is_ok());
        assert!(
            Entry::new(Kind::Intent, Some(Outcome::Unlinked))
                .validate()
                .is_err()
        );
        assert!(Entry::new(Kind::Unlink, None).validate().is_err());
        assert!(
            Entry::new(Kind::Resolution, Some(Outcome::Unlinked))
                .validate()
                .is_err()
        );
        assert!(
            Entry::new(Kind::Unlink, Some(Outcome::Forbidden))
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn rows_print_as_words() {
        let mut entry = Entry::new(Kind::Unlink, Some(Outcome::AlreadyUnlinked));
        entry.source = Some(Source::Shared);
        let json = serde_json::to_value(&entry).unwrap();
        assert_eq!(json["kind"], "unlink");
        assert_eq!(json["outcome"], "already_unlinked");
        assert_eq!(json["source"], "shared");
    }
}
