//! Secrets that must never be printed: the Mono key and the webhook secret.

use std::fmt;

use subtle::ConstantTimeEq;

/// The Mono secret key (`test_sk_…` or `live_sk_…`). `Debug` and `Display` show only the
/// prefix, so logging a config by accident leaks nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(String);

/// A key that does not look like a Mono secret key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvalidSecretKey {
    /// Nothing, or only spaces.
    Empty,
    /// A public key (`test_pk_`/`live_pk_`) or something else entirely.
    WrongPrefix,
    /// Whitespace or control characters inside, usually a copy-paste accident.
    BadCharacters,
}

impl fmt::Display for InvalidSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "the Mono secret key is empty",
            Self::WrongPrefix => {
                "the Mono secret key must start with test_sk_ or live_sk_ (a *_pk_ key is the \
                 public key, which cannot unlink)"
            }
            Self::BadCharacters => "the Mono secret key contains spaces or control characters",
        })
    }
}

impl std::error::Error for InvalidSecretKey {}

impl SecretKey {
    /// Accepts a key with surrounding whitespace (as read from a file) trimmed.
    pub fn parse(raw: &str) -> Result<Self, InvalidSecretKey> {
        let key = raw.trim();
        if key.is_empty() {
            return Err(InvalidSecretKey::Empty);
        }
        if !(key.starts_with("test_sk_") || key.starts_with("live_sk_")) {
            return Err(InvalidSecretKey::WrongPrefix);
        }
        if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(InvalidSecretKey::BadCharacters);
        }
        Ok(Self(key.to_owned()))
    }

    /// `test_sk_` or `live_sk_`: the only part of the key that is ever logged.
    pub fn prefix(&self) -> &str {
        &self.0[..8]
    }

    /// A `live_sk_` key (real accounts, paid calls).
    pub fn is_live(&self) -> bool {
        self.0.starts_with("live_")
    }

    /// The key itself, for the `mono-sec-key` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({}…)", self.prefix())
    }
}

impl fmt::Display for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}…", self.prefix())
    }
}

/// `text` with the configured `key` and anything shaped like a Mono key (`live_sk_…`,
/// `test_pk_…`) cut down to its prefix, for logging text that came from elsewhere (an
/// upstream that echoes the key back must not put it in the log).
pub fn mask_keys(text: &str, key: &SecretKey) -> String {
    let text = text.replace(key.expose(), &key.to_string());
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = KEY_PREFIXES
        .iter()
        .filter_map(|prefix| rest.find(prefix).map(|at| (at, prefix.len())))
        .min()
    {
        let (start, prefix_len) = at;
        let after = &rest[start + prefix_len..];
        let secret_len = after
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(after.len());
        out.push_str(&rest[..start + prefix_len]);
        if secret_len > 0 {
            out.push('…');
        }
        rest = &after[secret_len..];
    }
    out.push_str(rest);
    out
}

/// The prefixes of Mono's keys, secret and public, test and live.
const KEY_PREFIXES: &[&str] = &["test_sk_", "live_sk_", "test_pk_", "live_pk_"];

/// A shared secret compared in constant time (the webhook's `mono-webhook-secret`).
#[derive(Clone)]
pub struct SharedSecret(String);

impl SharedSecret {
    /// `None` for an empty secret: an empty secret would accept an empty header.
    pub fn new(secret: &str) -> Option<Self> {
        let secret = secret.trim();
        (!secret.is_empty()).then(|| Self(secret.to_owned()))
    }

    /// Compares without an early exit on the first differing byte, so response timing does
    /// not reveal how much of a guess was right. (The length is not secret.)
    pub fn matches(&self, candidate: &[u8]) -> bool {
        self.0.as_bytes().ct_eq(candidate).into()
    }
}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedSecret(…)")
    }
}

/// The service route's bearer tokens, by name (`--service-token-file`: lines `name:token`).
/// Compared in constant time; never printed, not even by `Debug`.
#[derive(Clone)]
pub struct ServiceTokens(Vec<(String, String)>);

/// Shortest token accepted: a guessable token would be a key to every account.
pub const MIN_SERVICE_TOKEN_LEN: usize = 24;

impl ServiceTokens {
    /// Reads a token file: one `name:token` per line; blank lines and `#` comments are
    /// skipped. Names are `[A-Za-z0-9._-]{1,64}` and unique; tokens at least
    /// [`MIN_SERVICE_TOKEN_LEN`] visible characters. Every problem is reported, by line,
    /// without the token.
    pub fn parse(text: &str) -> Result<Self, Vec<String>> {
        let (mut tokens, mut problems) = (Vec::new(), Vec::new());
        for (index, line) in text.lines().enumerate() {
            let (number, line) = (index + 1, line.trim());
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((name, token)) = line.split_once(':') else {
                problems.push(format!("line {number}: expected name:token"));
                continue;
            };
            let (name, token) = (name.trim(), token.trim());
            let good_name = (1..=64).contains(&name.len())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            if !good_name {
                problems.push(format!(
                    "line {number}: the name must be 1 to 64 of A-Z a-z 0-9 . _ -"
                ));
            } else if tokens.iter().any(|(other, _)| other == name) {
                problems.push(format!("line {number}: the name {name} is given twice"));
            }
            if token.len() < MIN_SERVICE_TOKEN_LEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
                problems.push(format!(
                    "line {number} ({name}): the token must be at least {MIN_SERVICE_TOKEN_LEN} \
                     visible characters (e.g. `openssl rand -hex 32`)"
                ));
            }
            tokens.push((name.to_owned(), token.to_owned()));
        }
        if tokens.is_empty() && problems.is_empty() {
            problems.push("no tokens: add a line name:token".into());
        }
        if problems.is_empty() {
            Ok(Self(tokens))
        } else {
            Err(problems)
        }
    }

    /// The name of the token `candidate` is, if it is one. Every token is compared, each in
    /// constant time, so timing tells neither which token nor how much of it matched.
    pub fn name_for(&self, candidate: &[u8]) -> Option<&str> {
        let mut found = None;
        for (name, token) in &self.0 {
            if bool::from(token.as_bytes().ct_eq(candidate)) {
                found = Some(name.as_str());
            }
        }
        found
    }

    /// The tokens' names, for the start-up log.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(name, _)| name.as_str())
    }
}

impl fmt::Debug for ServiceTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServiceTokens({} tokens)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_need_a_secret_prefix() {
        assert!(SecretKey::parse("test_sk_abc123").is_ok());
        assert!(SecretKey::parse("  live_sk_abc123\n").is_ok());
        assert_eq!(SecretKey::parse(""), Err(InvalidSecretKey::Empty));
        assert_eq!(
            SecretKey::parse("test_pk_abc"),
            Err(InvalidSecretKey::WrongPrefix)
        );
        assert_eq!(
            SecretKey::parse("sk_abc"),
            Err(InvalidSecretKey::WrongPrefix)
        );
        assert_eq!(
            SecretKey::parse("test_sk_a b"),
            Err(InvalidSecretKey::BadCharacters)
        );
    }

    #[test]
    fn secret_keys_never_print_themselves() {
        let key = SecretKey::parse("live_sk_supersecretvalue").unwrap();
        assert_eq!(format!("{key:?}"), "SecretKey(live_sk_…)");
        assert_eq!(key.to_string(), "live_sk_…");
        assert_eq!(key.prefix(), "live_sk_");
        assert!(key.is_live());
        assert_eq!(key.expose(), "live_sk_supersecretvalue");
    }

    #[test]
    fn key_shapes_are_masked_in_foreign_text() {
        let key = SecretKey::parse("live_sk_supersecretvalue").unwrap();
        assert_eq!(
            mask_keys(
                "key live_sk_supersecretvalue; also test_sk_abc123, live_pk_x.",
                &key
            ),
            "key live_sk_…; also test_sk_…, live_pk_…."
        );
        assert_eq!(mask_keys("nothing here", &key), "nothing here");
        assert_eq!(mask_keys("live_sk_", &key), "live_sk_");
        assert_eq!(mask_keys("xsupersecretvaluex", &key), "xsupersecretvaluex");
        // The key glued to other text is still removed.
        assert_eq!(
            mask_keys("glued:live_sk_supersecretvalue!", &key),
            "glued:live_sk_…!"
        );
    }

    #[test]
    fn service_tokens_are_named_checked_and_never_printed() {
        let file = "# backends\nbilling: 0123456789abcdef0123456789abcdef\n\nsupport:ffffffffffffffffffffffffffffffff\n";
        let tokens = ServiceTokens::parse(file).unwrap();
        assert_eq!(
            tokens.name_for(b"0123456789abcdef0123456789abcdef"),
            Some("billing")
        );
        assert_eq!(
            tokens.name_for(b"ffffffffffffffffffffffffffffffff"),
            Some("support")
        );
        assert_eq!(tokens.name_for(b"0123456789abcdef0123456789abcdee"), None);
        assert_eq!(tokens.name_for(b""), None);
        assert_eq!(format!("{tokens:?}"), "ServiceTokens(2 tokens)");
        let problems = ServiceTokens::parse(
            "a:short\nno-colon\nb c:0123456789abcdef0123456789\na:0123456789abcdef0123456789",
        )
        .unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(
            problems[0].starts_with("line 1 (a): the token must be"),
            "{problems:?}"
        );
        assert!(problems[1].starts_with("line 2: expected name:token"));
        assert!(problems[2].starts_with("line 3: the name must be"));
        assert!(problems[3].contains("given twice"));
        assert!(
            problems.iter().all(|p| !p.contains("short")),
            "tokens never echoed"
        );
        assert!(ServiceTokens::parse("# only comments\n").is_err());
    }

    #[test]
    fn shared_secret_matches_exactly() {
        let secret = SharedSecret::new("whsec-123").unwrap();
        assert!(secret.matches(b"whsec-123"));
        assert!(!secret.matches(b"whsec-124"));
        assert!(!secret.matches(b"whsec-12"));
        assert!(!secret.matches(b""));
        assert!(SharedSecret::new("  ").is_none());
        assert_eq!(format!("{secret:?}"), "SharedSecret(…)");
    }
}
