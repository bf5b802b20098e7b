// Test fixtures: a fresh proxy (fake Mono, audit database, dist/ as static files) for every
// test, page objects for the widget, and a guard that fails a test on any unexpected console
// error or CSP violation.
import { test as base, expect, type Locator, type Page } from "@playwright/test";
import { startProxy } from "../support/proxy.mjs";

export const GTBANK = "60770aa8c5878a2af69ed849"; // <unlink-account> on the demo page
export const ACCESS = "65c4c03aa66a95b572cb5a86"; // mount() on the demo page
export const KUDA = "64779d900000000000b3de23aeb8"; // owned by someone else

export interface AuditRow {
  id: number;
  kind: "intent" | "unlink" | "webhook" | "resolution";
  account_id: string | null;
  /** null for intents, whose outcome is a later row pointing at them */
  outcome: string | null;
  intent_id: number | null;
  idempotency_key: string | null;
  principal: string | null;
  source: string | null;
  upstream_status: number | null;
  attempts: number;
}

export interface Server {
  url: string;
  /** The audit trail as `unlink-proxy audit` prints it. */
  audit(): AuditRow[];
  /** Its rows that answer an unlink request (no intents). */
  answers(): AuditRow[];
}

interface Fixtures {
  /** Extra flags for the proxy, e.g. ["--fake-mono-fault", "*=latency:800"]. */
  serverArgs: string[];
  server: Server;
  /** Console errors the test expects; anything else fails it. */
  expectedConsoleErrors: RegExp[];
  consoleErrors: string[];
}

export const test = base.extend<Fixtures>({
  serverArgs: [[], { option: true }],
  expectedConsoleErrors: [[], { option: true }],

  server: async ({ serverArgs }, use, testInfo) => {
    const proxy = await startProxy(testInfo.outputPath("audit.sqlite3"), serverArgs);
    const audit = () => proxy.audit() as AuditRow[];
    await use({
      url: proxy.url,
      audit,
      answers: () => audit().filter((row) => row.kind === "unlink"),
    });
    await proxy.stop();
  },

  baseURL: async ({ server }, use) => use(server.url),

  consoleErrors: [
    async ({ page, expectedConsoleErrors }, use) => {
      const errors: string[] = [];
      page.on("console", (message) => {
        if (message.type() === "error") errors.push(message.text());
      });
      page.on("pageerror", (error) => errors.push(`uncaught: ${error.message}`));
      await use(errors);
      const unexpected = errors.filter((e) => !expectedConsoleErrors.some((re) => re.test(e)));
      expect(unexpected, "unexpected console errors").toEqual([]);
    },
    { auto: true },
  ],
});

export { expect };

/** The widget inside `scope` (a demo page row, or any element holding one). */
export class Widget {
  readonly trigger: Locator;
  readonly dialog: Locator;
  readonly cancel: Locator;
  readonly confirm: Locator;
  readonly alert: Locator;
  /** The visible sentence that replaces the trigger after success. */
  readonly done: Locator;
  readonly progress: Locator;

  constructor(
    readonly page: Page,
    readonly scope: Locator,
  ) {
    this.trigger = scope.getByRole("button", { name: "Unlink bank account" });
    // The dialog is in the top layer, but still inside the row in the DOM.
    this.dialog = scope.getByRole("dialog");
    this.cancel = this.dialog.getByRole("button", { name: "Cancel" });
    this.confirm = this.dialog.getByRole("button", { name: "Unlink account" });
    this.alert = this.dialog.getByRole("alert");
    this.progress = this.dialog.getByRole("status");
    this.done = scope.locator(".unlink-done");
  }

  static row(page: Page, id: string): Widget {
    return new Widget(page, page.locator(`#${id}`));
  }

  /** Opens the dialog and waits for Cancel to take focus (the dialog holds it a moment
   * first, so screen readers read it). */
  async open(): Promise<void> {
    await this.trigger.click();
    await expect(this.dialog).toBeVisible();
    await expect(this.cancel).toBeFocused();
  }
}

/** Every POST the page sends to the unlink route. */
export function unlinkRequests(page: Page) {
  const seen: { url: string; headers: Record<string, string> }[] = [];
  page.on("request", (request) => {
    if (request.method() === "POST" && request.url().includes("/unlink")) {
      seen.push({ url: request.url(), headers: request.headers() });
    }
  });
  return seen;
}
