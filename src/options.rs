//! What a partner passes to `mount()` or sets on `<unlink-account>`, and its validation.
//!
//! Reading from JavaScript ([`RawOptions::from_js`]) only collects values; every rule lives in
//! [`RawOptions::validate`], a plain function, so it is tested without a browser.

use std::fmt;

use wasm_bindgen::{JsCast, JsValue};

use crate::text::{Key, Locale, Texts};

/// Default time to wait for the proxy before giving up, in milliseconds.
pub(crate) const DEFAULT_TIMEOUT_MS: u32 = 15_000;
const TIMEOUT_RANGE_MS: std::ops::RangeInclusive<f64> = 1_000.0..=120_000.0;

/// Options exactly as the partner gave them, before any checks.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct RawOptions {
    pub account_id: Option<String>,
    pub endpoint: Option<String>,
    pub bank: Option<String>,
    pub mask: Option<String>,
    pub locale: Option<String>,
    pub credentials: Option<String>,
    pub timeout: Option<f64>,
    pub check_status: Option<bool>,
    pub headers: Vec<(String, String)>,
    pub text: Vec<(String, String)>,
    /// Values of the wrong JavaScript type, found while reading.
    pub type_errors: Vec<OptionError>,
}

/// Checked options: everything the widget needs, in the form it needs it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Options {
    pub account_id: String,
    /// The proxy's base URL, without a trailing slash.
    pub endpoint: String,
    pub bank: Option<String>,
    /// At most the last four letters or digits of the account number.
    pub mask: Option<String>,
    pub texts: Texts,
    pub credentials: Credentials,
    pub timeout_ms: u32,
    /// Ask the proxy on mount whether the account is already unlinked
    /// (`GET {endpoint}/accounts/{id}`), and say so instead of offering the button.
    pub check_status: bool,
    /// Extra request headers from the partner, such as a CSRF token.
    pub headers: Vec<(String, String)>,
}

/// Fetch's `credentials` mode for the request to the proxy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Credentials {
    #[default]
    SameOrigin,
    Include,
    Omit,
}

/// One thing wrong with the options, worded for the partner's developer console.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum OptionError {
    NotAnObject,
    NotAnElement,
    WrongType {
        option: String,
        expected: &'static str,
    },
    MissingAccountId,
    InvalidAccountId,
    MissingEndpoint,
    InvalidEndpoint,
    EmptyOption(&'static str),
    UnknownLocale(String),
    InvalidCredentials(String),
    InvalidTimeout,
    InvalidHeader(String),
    ReservedHeader(String),
    UnknownTextKey(String),
}

impl fmt::Display for OptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAnObject => f.write_str(
                "options must be an object, e.g. { accountId: \"60770aa8c5878a2af69ed849\", \
                 endpoint: \"/api/mono\" }",
            ),
            Self::NotAnElement => f.write_str("the first argument must be an HTML element"),
            Self::WrongType { option, expected } => write!(f, "`{option}` must be {expected}"),
            Self::MissingAccountId => f.write_str(
                "`accountId` (attribute `account-id`) is required: the Mono id of the account \
                 to unlink",
            ),
            Self::InvalidAccountId => f.write_str(
                "`accountId` must be 1 to 64 characters from A-Z, a-z, 0-9, \"_\" and \"-\"",
            ),
            Self::MissingEndpoint => f.write_str(
                "`endpoint` is required: the base URL of your unlink proxy, e.g. \"/api/mono\"",
            ),
            Self::InvalidEndpoint => f.write_str(
                "`endpoint` must be a URL or path without spaces, \"?\" or \"#\", \
                 e.g. \"/api/mono\"",
            ),
            Self::EmptyOption(option) => {
                write!(f, "`{option}` must not be empty; leave it out instead")
            }
            Self::UnknownLocale(locale) => write!(
                f,
                "`locale` \"{locale}\" is not supported: use \"en\" or \"fr\", and the `text` \
                 option for your own wording"
            ),
            Self::InvalidCredentials(value) => write!(
                f,
                "`credentials` \"{value}\" is not valid: use \"same-origin\", \"include\" or \
                 \"omit\""
            ),
            Self::InvalidTimeout => {
                f.write_str("`timeout` must be a whole number of milliseconds from 1000 to 120000")
            }
            Self::InvalidHeader(name) => write!(
                f,
                "header \"{name}\" is not a valid HTTP header name, or its value has line breaks"
            ),
            Self::ReservedHeader(name) => {
                write!(
                    f,
                    "header \"{name}\" is set by the widget and cannot be overridden"
                )
            }
            Self::UnknownTextKey(key) => {
                let known: Vec<&str> = Key::ALL.iter().map(|k| k.name()).collect();
                write!(
                    f,
                    "`text.{key}` is not a known text; known keys are {}",
                    known.join(", ")
                )
            }
        }
    }
}

impl RawOptions {
    /// Checks every option and reports every problem at once, so a partner fixes them in one go.
    pub(crate) fn validate(self) -> Result<Options, Vec<OptionError>> {
        let mut errors = self.type_errors;

        let account_id = match self.account_id {
            None => {
                errors.push(OptionError::MissingAccountId);
                String::new()
            }
            Some(id) if !is_valid_account_id(&id) => {
                errors.push(OptionError::InvalidAccountId);
                id
            }
            Some(id) => id,
        };

        let endpoint = match self.endpoint {
            None => {
                errors.push(OptionError::MissingEndpoint);
                String::new()
            }
            Some(endpoint) => {
                let trimmed = endpoint.trim_end_matches('/');
                let base = if trimmed.is_empty() {
                    &endpoint
                } else {
                    trimmed
                };
                if !is_valid_endpoint(base) {
                    errors.push(OptionError::InvalidEndpoint);
                }
                base.to_owned()
            }
        };

        let bank = non_empty(self.bank, "bank", &mut errors);
        let mask = non_empty(self.mask, "mask", &mut errors).map(|mask| {
            let tail: Vec<char> = mask.chars().filter(|c| c.is_alphanumeric()).collect();
            tail[tail.len().saturating_sub(4)..]
                .iter()
                .collect::<String>()
        });
        if mask.as_deref() == Some("") {
            errors.push(OptionError::WrongType {
                option: "mask".into(),
                expected: "the last digits of the account number, e.g. \"1234\"",
            });
        }

        let locale = match self.locale {
            None => Locale::default(),
            Some(tag) => Locale::parse(&tag).unwrap_or_else(|| {
                errors.push(OptionError::UnknownLocale(tag));
                Locale::default()
            }),
        };

        let credentials = match self.credentials.as_deref() {
            None | Some("same-origin") => Credentials::SameOrigin,
            Some("include") => Credentials::Include,
            Some("omit") => Credentials::Omit,
            Some(other) => {
                errors.push(OptionError::InvalidCredentials(other.to_owned()));
                Credentials::default()
            }
        };

        let timeout_ms = match self.timeout {
            None => DEFAULT_TIMEOUT_MS,
            Some(ms) if ms.fract() == 0.0 && TIMEOUT_RANGE_MS.contains(&ms) => ms as u32,
            Some(_) => {
                errors.push(OptionError::InvalidTimeout);
                DEFAULT_TIMEOUT_MS
            }
        };

        for (name, value) in &self.headers {
            if ["accept", "idempotency-key"].contains(&name.to_ascii_lowercase().as_str()) {
                errors.push(OptionError::ReservedHeader(name.clone()));
            } else if !is_header_name(name) || value.contains(['\r', '\n', '\0']) {
                errors.push(OptionError::InvalidHeader(name.clone()));
            }
        }

        let mut overrides = Vec::with_capacity(self.text.len());
        for (name, text) in self.text {
            match Key::from_name(&name) {
                Some(key) => overrides.push((key, text)),
                None => errors.push(OptionError::UnknownTextKey(name)),
            }
        }

        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Options {
            account_id,
            endpoint,
            bank,
            mask,
            texts: Texts::new(locale, overrides),
            credentials,
            timeout_ms,
            check_status: self.check_status.unwrap_or(false),
            headers: self.headers,
        })
    }

    /// Collects options from a JavaScript object. Wrong types become errors, never panics.
    pub(crate) fn from_js(options: &JsValue) -> Self {
        let mut raw = RawOptions::default();
        if !options.is_object() {
            if !options.is_undefined() && !options.is_null() {
                raw.type_errors.push(OptionError::NotAnObject);
            }
            return raw;
        }
        let errors = &mut raw.type_errors;
        raw.account_id = read_string(options, "accountId", errors);
        raw.endpoint = read_string(options, "endpoint", errors);
        raw.bank = read_string(options, "bank", errors);
        raw.mask = read_string(options, "mask", errors);
        raw.locale = read_string(options, "locale", errors);
        raw.credentials = read_string(options, "credentials", errors);
        raw.timeout = match get(options, "timeout") {
            None => None,
            Some(value) => value.as_f64().or_else(|| {
                errors.push(wrong_type("timeout", "a number of milliseconds"));
                None
            }),
        };
        raw.check_status = get(options, "checkStatus").and_then(|value| {
            value.as_bool().or_else(|| {
                errors.push(wrong_type("checkStatus", "true or false"));
                None
            })
        });
        raw.headers = read_string_map(options, "headers", errors);
        raw.text = read_string_map(options, "text", errors);
        raw
    }
}

impl Options {
    /// `POST {endpoint}/accounts/{id}/unlink`. The id is already limited to characters that
    /// `encodeURIComponent` leaves unchanged, so it can never add a path segment or a query.
    pub(crate) fn unlink_url(&self) -> String {
        format!("{}/unlink", self.status_url())
    }

    /// `GET {endpoint}/accounts/{id}`: what the proxy's record says about the account.
    pub(crate) fn status_url(&self) -> String {
        format!("{}/accounts/{}", self.endpoint, self.account_id)
    }
}

/// Mono account ids: 24 hex characters in practice, 28 in one official sample. Anything in
/// `[A-Za-z0-9_-]{1,64}` is let through for Mono to judge.
pub(crate) fn is_valid_account_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn is_valid_endpoint(endpoint: &str) -> bool {
    !endpoint.is_empty()
        && !endpoint
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '#')
}

fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn non_empty(
    value: Option<String>,
    option: &'static str,
    errors: &mut Vec<OptionError>,
) -> Option<String> {
    let value = value?;
    let trimmed = value.trim();
    if trimmed.is_empty() {
        errors.push(OptionError::EmptyOption(option));
        return None;
    }
    Some(trimmed.to_owned())
}

fn wrong_type(option: &str, expected: &'static str) -> OptionError {
    OptionError::WrongType {
        option: option.to_owned(),
        expected,
    }
}

/// The property `name`, treating `undefined` and `null` as absent.
fn get(object: &JsValue, name: &str) -> Option<JsValue> {
    js_sys::Reflect::get(object, &JsValue::from_str(name))
        .ok()
        .filter(|value| !value.is_undefined() && !value.is_null())
}

fn read_string(object: &JsValue, name: &str, errors: &mut Vec<OptionError>) -> Option<String> {
    let value = get(object, name)?;
    value.as_string().or_else(|| {
        errors.push(wrong_type(name, "a string"));
        None
    })
}

fn read_string_map(
    object: &JsValue,
    name: &str,
    errors: &mut Vec<OptionError>,
) -> Vec<(String, String)> {
    let Some(map) = get(object, name) else {
        return Vec::new();
    };
    let Some(map) = map.dyn_ref::<js_sys::Object>().filter(|_| map.is_object()) else {
        errors.push(wrong_type(name, "an object of strings"));
        return Vec::new();
    };
    let mut entries = Vec::new();
    for entry in js_sys::Object::entries(map).iter() {
        let pair: js_sys::Array = entry.unchecked_into();
        let key = pair.get(0).as_string().unwrap_or_default();
        match pair.get(1).as_string() {
            Some(value) => entries.push((key, value)),
            None => errors.push(wrong_type(&format!("{name}.{key}"), "a string")),
        }
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> RawOptions {
        RawOptions {
            account_id: Some("60770aa8c5878a2af69ed849".into()),
            endpoint: Some("/api/mono".into()),
            ..RawOptions::default()
        }
    }

    fn errors(raw: RawOptions) -> Vec<OptionError> {
        raw.validate().expect_err("should be rejected")
    }

    #[test]
    fn minimal_options_get_defaults() {
        let options = minimal().validate().unwrap();
        assert_eq!(options.account_id, "60770aa8c5878a2af69ed849");
        assert_eq!(options.endpoint, "/api/mono");
        assert_eq!(options.credentials, Credentials::SameOrigin);
        assert_eq!(options.timeout_ms, 15_000);
        assert_eq!(options.texts, Texts::default());
        assert_eq!(
            options.unlink_url(),
            "/api/mono/accounts/60770aa8c5878a2af69ed849/unlink"
        );
    }

    #[test]
    fn account_id_rules() {
        assert!(is_valid_account_id("60770aa8c5878a2af69ed849"));
        assert!(is_valid_account_id("64779d900000000000b3de23aeb8"));
        assert!(is_valid_account_id("a_B-9"));
        assert!(is_valid_account_id(&"a".repeat(64)));
        for bad in [
            "", "../x", "a/b", "a%2Fb", "a b", "é", "a\0", "a?b=1", "a#b",
        ] {
            assert!(!is_valid_account_id(bad), "{bad:?}");
        }
        assert!(!is_valid_account_id(&"a".repeat(65)));
        assert_eq!(
            errors(RawOptions {
                account_id: Some("../../admin".into()),
                ..minimal()
            }),
            [OptionError::InvalidAccountId]
        );
    }

    #[test]
    fn missing_required_options_are_all_reported() {
        assert_eq!(
            errors(RawOptions::default()),
            [OptionError::MissingAccountId, OptionError::MissingEndpoint]
        );
    }

    #[test]
    fn endpoint_loses_trailing_slashes_and_rejects_queries() {
        let with = |endpoint: &str| RawOptions {
            endpoint: Some(endpoint.into()),
            ..minimal()
        };
        let url = |endpoint| with(endpoint).validate().unwrap().unlink_url();
        assert_eq!(
            url("/api/mono/"),
            "/api/mono/accounts/60770aa8c5878a2af69ed849/unlink"
        );
        assert_eq!(
            url("https://partner.example/api"),
            "https://partner.example/api/accounts/60770aa8c5878a2af69ed849/unlink"
        );
        for bad in ["", "/api?x=1", "/api#a", "/a pi"] {
            assert_eq!(errors(with(bad)), [OptionError::InvalidEndpoint], "{bad:?}");
        }
    }

    #[test]
    fn mask_keeps_the_last_four_letters_or_digits() {
        let with = |mask: &str| {
            RawOptions {
                mask: Some(mask.into()),
                ..minimal()
            }
            .validate()
        };
        assert_eq!(with("1234").unwrap().mask.as_deref(), Some("1234"));
        assert_eq!(with("0123456789").unwrap().mask.as_deref(), Some("6789"));
        assert_eq!(with("**** 5678").unwrap().mask.as_deref(), Some("5678"));
        assert_eq!(with("42").unwrap().mask.as_deref(), Some("42"));
        assert!(with("****").is_err());
        assert_eq!(with("  ").unwrap_err(), [OptionError::EmptyOption("mask")]);
    }

    #[test]
    fn locale_credentials_and_timeout() {
        let fr = RawOptions {
            locale: Some("fr-FR".into()),
            credentials: Some("include".into()),
            timeout: Some(5000.0),
            ..minimal()
        }
        .validate()
        .unwrap();
        assert_eq!(fr.texts, Texts::new(Locale::Fr, vec![]));
        assert_eq!(fr.credentials, Credentials::Include);
        assert_eq!(fr.timeout_ms, 5000);

        let bad = errors(RawOptions {
            locale: Some("de".into()),
            credentials: Some("always".into()),
            timeout: Some(10.5),
            ..minimal()
        });
        assert_eq!(
            bad,
            [
                OptionError::UnknownLocale("de".into()),
                OptionError::InvalidCredentials("always".into()),
                OptionError::InvalidTimeout
            ]
        );
        for timeout in [0.0, 999.0, 120_001.0, f64::NAN, f64::INFINITY] {
            let raw = RawOptions {
                timeout: Some(timeout),
                ..minimal()
            };
            assert_eq!(errors(raw), [OptionError::InvalidTimeout], "{timeout}");
        }
    }

    #[test]
    fn partner_headers_are_checked() {
        let ok = RawOptions {
            headers: vec![("X-CSRF-Token".into(), "abc".into())],
            ..minimal()
        }
        .validate()
        .unwrap();
        assert_eq!(ok.headers, [("X-CSRF-Token".to_owned(), "abc".to_owned())]);

        let bad = errors(RawOptions {
            headers: vec![
                ("Idempotency-Key".into(), "x".into()),
                ("bad header".into(), "x".into()),
                ("X-Ok".into(), "line\r\nbreak".into()),
            ],
            ..minimal()
        });
        assert_eq!(
            bad,
            [
                OptionError::ReservedHeader("Idempotency-Key".into()),
                OptionError::InvalidHeader("bad header".into()),
                OptionError::InvalidHeader("X-Ok".into())
            ]
        );
    }

    #[test]
    fn text_overrides_use_known_keys() {
        let options = RawOptions {
            text: vec![("trigger".into(), "Disconnect".into())],
            ..minimal()
        }
        .validate()
        .unwrap();
        assert_eq!(options.texts.get(Key::Trigger), "Disconnect");

        let bad = errors(RawOptions {
            text: vec![("triger".into(), "x".into())],
            ..minimal()
        });
        assert_eq!(bad, [OptionError::UnknownTextKey("triger".into())]);
        assert!(bad[0].to_string().contains("known keys are trigger, title"));
    }

    #[test]
    fn type_errors_come_first() {
        let raw = RawOptions {
            type_errors: vec![wrong_type("bank", "a string")],
            ..minimal()
        };
        assert_eq!(errors(raw)[0].to_string(), "`bank` must be a string");
    }

    #[test]
    fn messages_name_the_option() {
        assert!(
            OptionError::MissingAccountId
                .to_string()
                .contains("account-id")
        );
        assert!(
            OptionError::UnknownLocale("de".into())
                .to_string()
                .contains("\"de\"")
        );
        assert!(
            OptionError::MissingEndpoint
                .to_string()
                .contains("/api/mono")
        );
    }
}
