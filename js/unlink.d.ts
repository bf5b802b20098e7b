// Types for unlink.js, the module partners load. Ships in dist/ beside it.

/** Names of the strings a partner can override with `text`. */
export type TextKey =
  | "trigger"
  | "title"
  | "description"
  | "accountBankMask"
  | "accountBank"
  | "accountMask"
  | "accountPlain"
  | "cancel"
  | "confirm"
  | "pending"
  | "success"
  | "alreadyUnlinked"
  | "errorNotAllowed"
  | "errorNotFound"
  | "errorRateLimited"
  | "errorRateLimitedSeconds"
  | "errorRateLimitedMinutes"
  | "errorRejected"
  | "errorUnavailable"
  | "misconfigured";

export interface UnlinkOptions {
  /** Mono account id: 1–64 characters from `A-Z a-z 0-9 _ -`. */
  accountId: string;
  /** Base URL of your unlink proxy; the widget POSTs to `{endpoint}/accounts/{id}/unlink`. */
  endpoint: string;
  /** Bank name shown in the dialog, e.g. "GTBank". */
  bank?: string;
  /** Last digits of the account number; only the last 4 letters or digits are shown. */
  mask?: string;
  /** "en" (default) or "fr"; regional tags such as "fr-FR" are accepted. */
  locale?: string;
  /** Fetch credentials mode for the proxy request. Default "same-origin". */
  credentials?: "same-origin" | "include" | "omit";
  /** Milliseconds to wait for the proxy (1000–120000). Default 15000. */
  timeout?: number;
  /** Ask the proxy once on mount (`GET {endpoint}/accounts/{id}`) and, when its record shows
   * the account unlinked, show "This bank account was already unlinked." instead of the
   * button. Any other answer, or none, leaves the button. Default false. */
  checkStatus?: boolean;
  /** Extra request headers, e.g. `{ "X-CSRF-Token": token }`. */
  headers?: Record<string, string>;
  /** Your own wording for any string; `{bank}`, `{mask}`, `{account}`, `{seconds}` and
   * `{minutes}` are filled in. */
  text?: Partial<Record<TextKey, string>>;
}

export interface UnlinkHandle {
  /** Resolves once the widget is on the page (after the wasm has loaded). Rejects, like
   * `ready`, if the wasm cannot start; the element then shows the "not available" sentence. */
  readonly mounted: Promise<void>;
  /** Removes everything the widget added and aborts a request in flight. Idempotent. */
  unmount(): void;
}

/** Resolves once the WebAssembly is running; rejects if it cannot be (see the console):
 * unlink.wasm did not load, or is not the file this unlink.js was built with. */
export const ready: Promise<void>;

/** This release's version, e.g. "0.1.0": the npm package's, the CDN folder's and the proxy's. */
export const version: string;

/** The attributes of `<unlink-account>`, as strings (for JSX, see `unlink-widget/jsx`). */
export interface UnlinkAccountAttributes {
  "account-id": string;
  endpoint: string;
  bank?: string;
  mask?: string;
  locale?: string;
  credentials?: "same-origin" | "include" | "omit";
  timeout?: number | string;
  /** Present (any value) turns `checkStatus` on. */
  "check-status"?: boolean | "";
  /** Wording: `text-cancel="Keep it"` overrides the `cancel` string. */
  [text: `text-${string}`]: string | undefined;
  /** Extra request headers: `header-x-csrf-token="…"`. */
  [header: `header-${string}`]: string | undefined;
}

/** Renders the widget into `element`. Bad options log a console error and show a short
 * "not available" sentence; they never throw. */
export function mount(element: HTMLElement, options: UnlinkOptions): UnlinkHandle;

export type UnlinkErrorCode =
  | "not_allowed"
  | "not_found"
  | "rate_limited"
  | "rejected"
  | "server_error"
  | "network_error"
  | "timeout";

export interface UnlinkEventDetail {
  accountId: string;
}

export interface UnlinkConfirmDetail extends UnlinkEventDetail {
  /** Sent as the `Idempotency-Key` header; a retry of the same confirmation reuses it. */
  idempotencyKey: string;
}

export interface UnlinkSuccessDetail extends UnlinkEventDetail {
  status: number;
  /** True when the proxy says the account had already been unlinked. */
  alreadyUnlinked: boolean;
  requestId: string | null;
}

export interface UnlinkErrorDetail extends UnlinkEventDetail {
  /** HTTP status, or null when there was no answer (network error, timeout). */
  status: number | null;
  code: UnlinkErrorCode;
  /** Seconds to wait, when the proxy answered 429 with Retry-After. */
  retryAfter: number | null;
  requestId: string | null;
}

declare global {
  interface HTMLElementEventMap {
    "unlink:open": CustomEvent<UnlinkEventDetail>;
    "unlink:cancel": CustomEvent<UnlinkEventDetail>;
    "unlink:confirm": CustomEvent<UnlinkConfirmDetail>;
    "unlink:success": CustomEvent<UnlinkSuccessDetail>;
    "unlink:error": CustomEvent<UnlinkErrorDetail>;
  }
  interface DocumentEventMap {
    "unlink:open": CustomEvent<UnlinkEventDetail>;
    "unlink:cancel": CustomEvent<UnlinkEventDetail>;
    "unlink:confirm": CustomEvent<UnlinkConfirmDetail>;
    "unlink:success": CustomEvent<UnlinkSuccessDetail>;
    "unlink:error": CustomEvent<UnlinkErrorDetail>;
  }
  interface HTMLElementTagNameMap {
    "unlink-account": HTMLElement;
  }
}
