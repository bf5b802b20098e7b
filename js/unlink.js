// The one module a partner's page loads:
//
//   <link rel="stylesheet" href="/unlink/unlink.css">
//   <link rel="preload" href="/unlink/unlink.wasm" as="fetch" type="application/wasm" crossorigin>
//   <script type="module" src="/unlink/unlink.js"></script>
//
// It fetches unlink.wasm from beside itself, defines <unlink-account>, and exports
// mount() for pages that render with JavaScript. Types: unlink.d.ts.
//
// scripts/build.sh bundles the wasm-bindgen glue into this file (one request instead of a
// chain of two) and writes in the wasm's SHA-384: a page that pins unlink.js with
// `integrity` so pins everything it loads, and a changed wasm is refused before it runs.
import init, { mount as mountWasm } from "./unlink-widget.js";

/* global UNLINK_WASM_INTEGRITY, UNLINK_VERSION */
// Both undefined only in development builds (trunk serve), which are not bundled and keep
// trunk's name for the wasm.
const integrity = typeof UNLINK_WASM_INTEGRITY === "string" ? UNLINK_WASM_INTEGRITY : undefined;
const WASM = integrity ? "unlink.wasm" : "unlink-widget_bg.wasm";
/** The release this file belongs to (package.json's and the proxy's version). */
export const version = typeof UNLINK_VERSION === "string" ? UNLINK_VERSION : "dev";

/** Resolves once the WebAssembly is running. Rejects (and logs why) if it cannot be. */
export const ready = (async () => {
  const url = new URL(WASM, import.meta.url);
  try {
    // Started as soon as the module runs; compiled while it downloads (instantiateStreaming
    // in the glue). A matching <link rel="preload"> lets it start even sooner.
    await init({ module_or_path: fetch(url, { integrity }) });
  } catch (error) {
    console.error(
      `unlink-widget: could not start: ${url} did not load, or is not the file this ` +
        `unlink.js ${version} was built with (its SHA-384 is checked). Serve it unchanged, ` +
        "as application/wasm, and allow 'wasm-unsafe-eval' in your Content-Security-Policy.",
      error,
    );
    throw error;
  }
})();
// Logged above; awaiting `ready` still sees the rejection.
ready.catch(() => {});

// What an end user sees instead of the button when the widget cannot start: the same calm
// sentence (and the same `text.misconfigured` override) as for bad options.
const UNAVAILABLE = {
  en: "Unlinking isn’t available right now.",
  fr: "La dissociation n’est pas disponible pour le moment.",
};

function unavailable(element, options) {
  const sentence = document.createElement("p");
  sentence.className = "unlink unlink-misconfigured";
  sentence.dataset.state = "misconfigured";
  const language = String(options?.locale ?? "en").slice(0, 2).toLowerCase();
  sentence.textContent = options?.text?.misconfigured ?? UNAVAILABLE[language] ?? UNAVAILABLE.en;
  element.append(sentence);
  return { unmount: () => sentence.remove(), free() {} };
}

/**
 * Renders the widget into `element`. Returns at once, before the wasm has loaded, so a page
 * can mount and unmount without awaiting anything.
 */
export function mount(element, options) {
  let widget = null;
  let unmounted = false;
  const mounted = ready.then(
    () => {
      if (!unmounted) widget = mountWasm(element, options);
    },
    (error) => {
      if (!unmounted && element instanceof HTMLElement) widget = unavailable(element, options);
      throw error;
    },
  );
  mounted.catch(() => {});
  return {
    mounted,
    unmount() {
      unmounted = true;
      if (widget) {
        widget.unmount();
        widget.free();
        widget = null;
      }
    },
  };
}

// Attribute name -> option name. `text-*` and `header-*` attributes fill `text` and `headers`.
const ATTRIBUTES = {
  "account-id": "accountId",
  endpoint: "endpoint",
  bank: "bank",
  mask: "mask",
  locale: "locale",
  credentials: "credentials",
};

const camelCase = (kebab) => kebab.replace(/-([a-z])/g, (_, c) => c.toUpperCase());

/** `<unlink-account account-id="…" endpoint="/api/mono" bank="…" mask="1234" check-status>` */
class UnlinkAccountElement extends HTMLElement {
  static observedAttributes = [...Object.keys(ATTRIBUTES), "timeout", "check-status"];

  #handle = null;

  connectedCallback() {
    this.#render();
  }

  disconnectedCallback() {
    this.#handle?.unmount();
    this.#handle = null;
  }

  attributeChangedCallback() {
    // Attributes set before the element is connected are read by connectedCallback.
    if (this.#handle) this.#render();
  }

  #render() {
    this.#handle?.unmount();
    this.#handle = mount(this, this.#options());
  }

  #options() {
    const options = { headers: {}, text: {} };
    for (const { name, value } of this.attributes) {
      if (name in ATTRIBUTES) options[ATTRIBUTES[name]] = value;
      else if (name === "timeout") options.timeout = Number(value);
      // A boolean attribute, as in HTML: present means on (`check-status="false"` too).
      else if (name === "check-status") options.checkStatus = true;
      else if (name.startsWith("text-")) options.text[camelCase(name.slice(5))] = value;
      else if (name.startsWith("header-")) options.headers[name.slice(7)] = value;
    }
    return options;
  }
}

if (!customElements.get("unlink-account")) {
  customElements.define("unlink-account", UnlinkAccountElement);
}
