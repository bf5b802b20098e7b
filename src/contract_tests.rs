//! The TypeScript declarations partners compile against (`js/unlink.d.ts`) must say exactly
//! what the Rust code does: the same text keys, error codes and event names. They are
//! written by hand, so this test reads them and compares.

use crate::{events::WidgetEvent, outcome::Failure, text::Key};

const DECLARATIONS: &str = include_str!("../js/unlink.d.ts");

/// The string literals of `export type {name} = "a" | "b" …;`.
fn union(name: &str) -> Vec<&'static str> {
    let start = format!("export type {name} =");
    let body = DECLARATIONS
        .split_once(&start)
        .unwrap_or_else(|| panic!("unlink.d.ts has no {name}"))
        .1;
    let body = &body[..body.find(';').expect("the union ends with ;")];
    quoted(body)
}

/// The quoted property names of `interface {name} { … }`.
fn interface_keys(name: &str) -> Vec<&'static str> {
    let start = format!("interface {name} {{");
    let body = DECLARATIONS
        .split_once(&start)
        .unwrap_or_else(|| panic!("unlink.d.ts has no interface {name}"))
        .1;
    let body = &body[..body.find('}').expect("the interface ends with }")];
    body.lines()
        .filter_map(|line| line.trim().strip_prefix('"')?.split_once('"'))
        .map(|(key, _)| key)
        .collect()
}

fn quoted(text: &'static str) -> Vec<&'static str> {
    text.split('"').skip(1).step_by(2).collect()
}

#[test]
fn text_keys_match() {
    let rust: Vec<&str> = Key::ALL.iter().map(|key| key.name()).collect();
    assert_eq!(union("TextKey"), rust);
}

#[test]
fn error_codes_match() {
    let rust: Vec<&str> = Failure::ALL.iter().map(|failure| failure.code()).collect();
    assert_eq!(union("UnlinkErrorCode"), rust);
}

#[test]
fn event_names_match() {
    let rust: Vec<&str> = WidgetEvent::ALL.iter().map(|event| event.name()).collect();
    for map in ["HTMLElementEventMap", "DocumentEventMap"] {
        assert_eq!(interface_keys(map), rust, "{map}");
    }
}

/// unlink.js shows the "not available" sentence itself when the wasm cannot start (so it
/// cannot ask the Rust catalog): its copy must be the catalog's, in every locale.
#[test]
fn the_loaders_fallback_sentence_is_the_catalogs() {
    let loader = include_str!("../js/unlink.js");
    for locale in [crate::text::Locale::En, crate::text::Locale::Fr] {
        let text = crate::text::Texts::new(locale, vec![]);
        let line = format!("{}: \"{}\",", locale.tag(), text.get(Key::Misconfigured));
        assert!(loader.contains(&line), "unlink.js lacks {line}");
    }
}
