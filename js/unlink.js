// The one module a partner's page loads:
//
//   <link rel="stylesheet" href="/unlink/unlink.css">
//   <script type="module" src="/unlink/unlink.js"></script>
//
// It loads unlink-widget_bg.wasm from beside itself, defines <unlink-account>, and exports
// mount() for pages that render with JavaScript. Types: unlink.d.ts.
import init, { mount as mountWasm } from "./unlink-widget.js";

/** Resolves once the WebAssembly is loaded. Rejects (and logs why) if it cannot be. */
export const ready = init().then(
  () => undefined,
  (error) => {
    console.error(
      "unlink-widget: could not load unlink-widget_bg.wasm from beside unlink.js. Serve it " +
        "as application/wasm, and allow 'wasm-unsafe-eval' in your Content-Security-Policy.",
      error,
    );
    throw error;
  },
);
// Logged above; awaiting `ready` still sees the rejection.
ready.catch(() => {});

/**
 * Renders the widget into `element`. Returns at once, before the wasm has loaded, so a page
 * can mount and unmount without awaiting anything.
 */
export function mount(element, options) {
  let widget = null;
  let unmounted = false;
  const mounted = ready.then(() => {
    if (!unmounted) widget = mountWasm(element, options);
  });
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

/** `<unlink-account account-id="…" endpoint="/api/mono" bank="…" mask="1234">` */
class UnlinkAccountElement extends HTMLElement {
  static observedAttributes = [...Object.keys(ATTRIBUTES), "timeout"];

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
      else if (name.startsWith("text-")) options.text[camelCase(name.slice(5))] = value;
      else if (name.startsWith("header-")) options.headers[name.slice(7)] = value;
    }
    return options;
  }
}

if (!customElements.get("unlink-account")) {
  customElements.define("unlink-account", UnlinkAccountElement);
}
