// Type-checks the declarations partners get (js/unlink.d.ts, shipped as dist/unlink.d.ts):
// correct use compiles, and each @ts-expect-error line must stay an error.
import {
  mount,
  ready,
  version,
  type UnlinkAccountAttributes,
  type UnlinkHandle,
  type UnlinkOptions,
} from "unlink-widget";

const host = document.createElement("div");
const options: UnlinkOptions = {
  accountId: "60770aa8c5878a2af69ed849",
  endpoint: "/api/mono",
  bank: "GTBank",
  mask: "1234",
  locale: "fr",
  credentials: "include",
  timeout: 10_000,
  checkStatus: true,
  headers: { "X-CSRF-Token": "token" },
  text: { trigger: "Disconnect", errorRateLimitedSeconds: "Wait {seconds}s" },
};
const handle: UnlinkHandle = mount(host, options);
void handle.mounted.then(() => handle.unmount());
void ready;

host.addEventListener("unlink:success", (event) => {
  const already: boolean = event.detail.alreadyUnlinked;
  const status: number = event.detail.status;
  void [already, status];
});
document.addEventListener("unlink:error", (event) => {
  const code: "not_allowed" | "not_found" | "rate_limited" | "rejected" | "server_error" |
    "network_error" | "timeout" = event.detail.code;
  const status: number | null = event.detail.status;
  void [code, status];
});
document.addEventListener("unlink:confirm", (event) => void event.detail.idempotencyKey.length);
const element: HTMLElement = document.createElement("unlink-account");
void element;

// @ts-expect-error accountId is required
mount(host, { endpoint: "/api/mono" });
// @ts-expect-error credentials is a fetch mode
mount(host, { ...options, credentials: "always" });
// @ts-expect-error unknown text key
mount(host, { ...options, text: { triger: "x" } });

// The version string, and the element's attributes as a plain record.
const released: string = version;
const attributes: UnlinkAccountAttributes = {
  "account-id": "60770aa8c5878a2af69ed849",
  endpoint: "/api/mono",
  "text-cancel": "Keep it",
  "header-x-csrf-token": "token",
};
// @ts-expect-error account-id is required
const missing: UnlinkAccountAttributes = { endpoint: "/api/mono" };
void [released, attributes, missing];
