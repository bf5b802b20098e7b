//! Every string the widget shows, in English and French, plus the partner's overrides.
//!
//! Strings are plain templates: `{bank}`, `{mask}`, `{account}`, `{seconds}` and `{minutes}`
//! are filled in at render time. Partners override any key with the `text` option, using the
//! camelCase names from [`Key::name`].

/// A supported language. Anything else is a configuration error, so a typo never silently
/// shows English to a French-speaking user.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Locale {
    #[default]
    En,
    Fr,
}

impl Locale {
    /// Reads a BCP 47 tag by its language subtag: `fr`, `fr-FR` and `FR_ca` are all French.
    pub(crate) fn parse(tag: &str) -> Option<Self> {
        let language = tag.trim().split(['-', '_']).next().unwrap_or_default();
        match language.to_ascii_lowercase().as_str() {
            "en" => Some(Self::En),
            "fr" => Some(Self::Fr),
            _ => None,
        }
    }

    /// The BCP 47 tag for the widget's `lang` attribute, so a screen reader picks the voice.
    pub(crate) fn tag(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Fr => "fr",
        }
    }

    fn catalog(self) -> &'static [&'static str; Key::COUNT] {
        match self {
            Self::En => &EN,
            Self::Fr => &FR,
        }
    }
}

/// Declares the keys with each one's strings beside it, so a string can never end up under
/// the wrong key: `Variant = "partnerName" { en: "…", fr: "…" }`.
macro_rules! catalog {
    ($($variant:ident = $name:literal { en: $en:expr, fr: $fr:expr $(,)? },)*) => {
        /// A string the widget shows.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum Key { $($variant,)* }

        impl Key {
            /// Every key, in catalog order.
            pub(crate) const ALL: &'static [Key] = &[$(Key::$variant,)*];
            const COUNT: usize = Self::ALL.len();

            /// The camelCase name partners use in the `text` option.
            pub(crate) fn name(self) -> &'static str {
                match self { $(Key::$variant => $name,)* }
            }

            /// The key called `name`, if there is one.
            pub(crate) fn from_name(name: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|key| key.name() == name)
            }
        }

        const EN: [&str; Key::COUNT] = [$($en,)*];
        const FR: [&str; Key::COUNT] = [$($fr,)*];
    };
}

// French typography puts a narrow no-break space (U+202F) before "?" and ":".
catalog! {
    Trigger = "trigger" {
        en: "Unlink bank account",
        fr: "Dissocier le compte bancaire",
    },
    Title = "title" {
        en: "Unlink bank account?",
        fr: "Dissocier le compte bancaire\u{202F}?",
    },
    Description = "description" {
        en: "{account} will be unlinked. Its data will be deleted and this app will lose \
             access to it. You can link it again later.",
        fr: "{account} sera dissocié. Ses données seront supprimées et cette application n’y \
             aura plus accès. Vous pourrez le relier de nouveau plus tard.",
    },
    AccountBankMask = "accountBankMask" {
        en: "Your {bank} account ending {mask}",
        fr: "Votre compte {bank} se terminant par {mask}",
    },
    AccountBank = "accountBank" {
        en: "Your {bank} account",
        fr: "Votre compte {bank}",
    },
    AccountMask = "accountMask" {
        en: "Your account ending {mask}",
        fr: "Votre compte se terminant par {mask}",
    },
    AccountPlain = "accountPlain" {
        en: "Your bank account",
        fr: "Votre compte bancaire",
    },
    Cancel = "cancel" {
        en: "Cancel",
        fr: "Annuler",
    },
    Confirm = "confirm" {
        en: "Unlink account",
        fr: "Dissocier le compte",
    },
    Pending = "pending" {
        en: "Unlinking…",
        fr: "Dissociation en cours…",
    },
    Success = "success" {
        en: "Bank account unlinked.",
        fr: "Compte bancaire dissocié.",
    },
    AlreadyUnlinked = "alreadyUnlinked" {
        en: "This bank account was already unlinked.",
        fr: "Ce compte bancaire était déjà dissocié.",
    },
    NotAllowed = "errorNotAllowed" {
        en: "You aren’t allowed to unlink this account.",
        fr: "Vous n’êtes pas autorisé à dissocier ce compte.",
    },
    NotFound = "errorNotFound" {
        en: "This account wasn’t found, so nothing was unlinked. Refresh the page to check \
             your linked accounts.",
        fr: "Ce compte est introuvable, rien n’a donc été dissocié. Actualisez la page pour \
             vérifier vos comptes liés.",
    },
    RateLimited = "errorRateLimited" {
        en: "Too many attempts. Wait a moment, then try again.",
        fr: "Trop de tentatives. Patientez un instant, puis réessayez.",
    },
    RateLimitedSeconds = "errorRateLimitedSeconds" {
        en: "Too many attempts. Try again in {seconds} seconds.",
        fr: "Trop de tentatives. Réessayez dans {seconds}\u{a0}secondes.",
    },
    RateLimitedMinutes = "errorRateLimitedMinutes" {
        en: "Too many attempts. Try again in {minutes} minutes.",
        fr: "Trop de tentatives. Réessayez dans {minutes}\u{a0}minutes.",
    },
    Rejected = "errorRejected" {
        en: "This account can’t be unlinked here. Contact support for help.",
        fr: "Ce compte ne peut pas être dissocié ici. Contactez l’assistance pour obtenir de \
             l’aide.",
    },
    Unavailable = "errorUnavailable" {
        en: "We couldn’t unlink your account. Try again.",
        fr: "Nous n’avons pas pu dissocier votre compte. Réessayez.",
    },
    Misconfigured = "misconfigured" {
        en: "Unlinking isn’t available right now.",
        fr: "La dissociation n’est pas disponible pour le moment.",
    },
}

/// The strings one widget shows: a locale's catalog with the partner's overrides on top.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Texts {
    locale: Locale,
    overrides: Vec<(Key, String)>,
}

impl Texts {
    pub(crate) fn new(locale: Locale, overrides: Vec<(Key, String)>) -> Self {
        Self { locale, overrides }
    }

    /// The template for `key`, before placeholders are filled.
    pub(crate) fn get(&self, key: Key) -> &str {
        self.overrides
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map_or(self.locale.catalog()[key as usize], |(_, text)| text)
    }

    /// The template for `key` with each `{name}` replaced by its value.
    pub(crate) fn fill(&self, key: Key, values: &[(&str, &str)]) -> String {
        fill(self.get(key), values)
    }

    /// The language the strings are in.
    pub(crate) fn locale(&self) -> Locale {
        self.locale
    }

    /// Which account: "Your GTBank account ending 1234". It also tells three "Unlink bank
    /// account" buttons on one page apart, as their description.
    pub(crate) fn account(&self, bank: Option<&str>, mask: Option<&str>) -> String {
        let values = [("bank", bank.unwrap_or("")), ("mask", mask.unwrap_or(""))];
        match (bank, mask) {
            (Some(_), Some(_)) => self.fill(Key::AccountBankMask, &values),
            (Some(_), None) => self.fill(Key::AccountBank, &values),
            (None, Some(_)) => self.fill(Key::AccountMask, &values),
            (None, None) => self.get(Key::AccountPlain).to_owned(),
        }
    }

    /// The dialog's description: which account, and what unlinking it does.
    pub(crate) fn description(&self, account: &str) -> String {
        self.fill(Key::Description, &[("account", account)])
    }
}

/// Replaces each `{name}` in `template` by its value; unknown placeholders stay as they are.
pub(crate) fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let value = after.find('}').and_then(|close| {
            let name = &after[..close];
            values
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v, close))
        });
        match value {
            Some((value, close)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locale_is_read_from_the_language_subtag() {
        assert_eq!(Locale::parse("en"), Some(Locale::En));
        assert_eq!(Locale::parse("en-NG"), Some(Locale::En));
        assert_eq!(Locale::parse("FR_ca"), Some(Locale::Fr));
        assert_eq!(Locale::parse(" fr "), Some(Locale::Fr));
        assert_eq!(Locale::parse("de"), None);
        assert_eq!(Locale::parse(""), None);
    }

    #[test]
    fn every_key_has_a_unique_name_and_text_in_each_locale() {
        for (i, key) in Key::ALL.iter().enumerate() {
            assert_eq!(*key as usize, i);
            assert_eq!(Key::from_name(key.name()), Some(*key));
            assert!(!EN[i].is_empty() && !FR[i].is_empty(), "{key:?}");
            assert_ne!(EN[i], FR[i], "{key:?} is not translated");
        }
        assert_eq!(Key::from_name("nope"), None);
    }

    #[test]
    fn both_catalogs_use_the_same_placeholders() {
        let placeholders = |s: &str| {
            let mut names: Vec<String> = s
                .split('{')
                .skip(1)
                .filter_map(|p| p.split_once('}').map(|(n, _)| n.to_owned()))
                .collect();
            names.sort();
            names
        };
        for key in Key::ALL {
            let i = *key as usize;
            assert_eq!(placeholders(EN[i]), placeholders(FR[i]), "{key:?}");
        }
    }

    #[test]
    fn english_is_the_default() {
        let texts = Texts::default();
        assert_eq!(texts.get(Key::Trigger), "Unlink bank account");
        assert_eq!(texts.get(Key::Title), "Unlink bank account?");
        assert_eq!(texts.get(Key::Cancel), "Cancel");
        assert_eq!(texts.get(Key::Confirm), "Unlink account");
    }

    #[test]
    fn french_catalog() {
        let texts = Texts::new(Locale::Fr, vec![]);
        assert_eq!(texts.get(Key::Cancel), "Annuler");
        assert_eq!(
            texts.get(Key::Title),
            "Dissocier le compte bancaire\u{202F}?"
        );
    }

    #[test]
    fn overrides_win_and_the_last_one_counts() {
        let texts = Texts::new(
            Locale::Fr,
            vec![
                (Key::Trigger, "Retirer".into()),
                (Key::Trigger, "Retirer ce compte".into()),
            ],
        );
        assert_eq!(texts.get(Key::Trigger), "Retirer ce compte");
        assert_eq!(texts.get(Key::Cancel), "Annuler");
    }

    #[test]
    fn description_names_bank_mask_and_consequence() {
        let texts = Texts::default();
        let description = |bank, mask| texts.description(&texts.account(bank, mask));
        assert_eq!(
            description(Some("GTBank"), Some("1234")),
            "Your GTBank account ending 1234 will be unlinked. Its data will be deleted and \
             this app will lose access to it. You can link it again later."
        );
        assert!(description(Some("GTBank"), None).starts_with("Your GTBank account will"));
        assert!(description(None, Some("1234")).starts_with("Your account ending 1234 "));
        assert!(description(None, None).starts_with("Your bank account will be unlinked."));
        assert_eq!(
            texts.account(Some("GTBank"), Some("1234")),
            "Your GTBank account ending 1234"
        );
        let fr = Texts::new(Locale::Fr, vec![]);
        assert!(
            fr.description(&fr.account(Some("Kuda"), Some("9876")))
                .starts_with("Votre compte Kuda se terminant par 9876 sera dissocié.")
        );
        assert_eq!(fr.locale().tag(), "fr");
    }

    #[test]
    fn overridden_description_templates_are_filled() {
        let texts = Texts::new(
            Locale::En,
            vec![
                (Key::AccountBankMask, "{bank} ••{mask}".into()),
                (Key::Description, "Remove {account}?".into()),
            ],
        );
        assert_eq!(
            texts.description(&texts.account(Some("Opay"), Some("42"))),
            "Remove Opay ••42?"
        );
    }

    #[test]
    fn fill_replaces_known_placeholders_only() {
        assert_eq!(fill("in {seconds} s", &[("seconds", "30")]), "in 30 s");
        assert_eq!(fill("{a}{b}{a}", &[("a", "1"), ("b", "2")]), "121");
        assert_eq!(
            fill("keep {other} and {", &[("a", "1")]),
            "keep {other} and {"
        );
        assert_eq!(fill("{{a}}", &[("a", "x")]), "{x}");
        // Values are inserted as they are, never re-scanned for placeholders.
        assert_eq!(fill("{a}", &[("a", "{a}")]), "{a}");
    }
}
