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

/// The attributes `unlink.d.ts` promises for `<unlink-account>` are the ones `unlink.js`
/// reads (its `ATTRIBUTES` map, then the typed ones it converts: `timeout`, `check-status`).
#[test]
fn element_attributes_match_the_loader() {
    let body = DECLARATIONS
        .split_once("interface UnlinkAccountAttributes {")
        .expect("unlink.d.ts has UnlinkAccountAttributes")
        .1;
    let body = &body[..body.find("\n}").expect("the interface ends")];
    let declared: Vec<&str> = body
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with(['/', '*', '[']) && line.contains(':'))
        .map(|line| line.split([':', '?']).next().unwrap().trim_matches('"'))
        .collect();

    let loader = include_str!("../js/unlink.js");
    let map = loader
        .split_once("const ATTRIBUTES = {")
        .expect("unlink.js has ATTRIBUTES")
        .1;
    let map = &map[..map.find("};").expect("the map ends")];
    let mut read: Vec<&str> = map
        .lines()
        .filter_map(|line| line.trim().split_once(':'))
        .map(|(key, _)| key.trim_matches('"'))
        .collect();
    read.extend(["timeout", "check-status"]);
    assert_eq!(declared, read);
    let observed = loader
        .split_once("static observedAttributes = [...Object.keys(ATTRIBUTES), ")
        .expect("unlink.js observes its attributes")
        .1;
    assert!(
        observed.starts_with("\"timeout\", \"check-status\"];"),
        "unlink.js observes every typed attribute"
    );
}
