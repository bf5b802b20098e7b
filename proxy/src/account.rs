//! Mono account ids, checked before they go anywhere near a URL.

use std::fmt;

/// A Mono account id: 1 to 64 characters from `A-Z a-z 0-9 _ -`.
///
/// Observed ids are 24 lowercase hex characters, but one official sample has 28, so the rule is
/// deliberately wider; Mono judges the rest. The rule alone guarantees the id can never add a
/// path segment, a query or a fragment to the upstream URL.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(String);

/// Why a string is not an [`AccountId`]. Deliberately vague: the input is not echoed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidAccountId;

impl fmt::Display for InvalidAccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("account id must be 1 to 64 characters from A-Z, a-z, 0-9, '_' and '-'")
    }
}

impl std::error::Error for InvalidAccountId {}

impl AccountId {
    /// Checks an already percent-decoded id.
    pub fn parse(id: &str) -> Result<Self, InvalidAccountId> {
        let valid = (1..=64).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if valid {
            Ok(Self(id.to_owned()))
        } else {
            Err(InvalidAccountId)
        }
    }

    /// The id, as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for AccountId {
    type Err = InvalidAccountId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_mono_shapes() {
        for id in [
            "60770aa8c5878a2af69ed849",
            "64779d900000000000b3de23aeb8",
            "a",
            "A_b-9",
        ] {
            assert_eq!(AccountId::parse(id).unwrap().as_str(), id);
        }
        assert!(AccountId::parse(&"x".repeat(64)).is_ok());
    }

    #[test]
    fn rejects_anything_that_could_change_a_url() {
        for id in [
            "", "../x", "..", "a/b", "a%2Fb", "a b", "a?b", "a#b", "a.b", "é", "a\0", "a\n",
        ] {
            assert_eq!(AccountId::parse(id), Err(InvalidAccountId), "{id:?}");
        }
        assert!(AccountId::parse(&"x".repeat(65)).is_err());
    }
}
