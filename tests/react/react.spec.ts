// The packed npm tarball inside a real React app (examples/react: Vite, TypeScript,
// StrictMode), as a partner would use it: the production build served by the reference
// proxy (strict CSP, same origin), and the Vite development server (StrictMode's double
// mount) proxying /api to it. scripts/test.sh packs, installs with `npm ci` and builds first.
import { type Page, expect, test as base } from "@playwright/test";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import { startProxy } from "../support/proxy.mjs";

const ACCESS = "65c4c03aa66a95b572cb5a86";
const APP = "examples/react";

type Mode = "production" | "development";

interface Fixtures {
  mode: Mode;
  /** The app's URL: the proxy serving the build, or Vite's dev server in front of it. */
  app: { url: string; audit: () => { kind: string; account_id: string; outcome: string | null }[] };
  consoleErrors: string[];
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const test = base.extend<Fixtures>({
  mode: ["production", { option: true }],

  app: async ({ mode }, use, testInfo) => {
    // In development the page's origin is Vite's, which the proxy must be told: its Host
    // header arrives rewritten by Vite's proxy, so only an explicit origin proves same-site.
    const port = await freePort();
    const origins = mode === "development" ? ["--public-origin", `http://127.0.0.1:${port}`] : [];
    const proxy = await startProxy(testInfo.outputPath("audit.sqlite3"), origins, {
      staticDir: `${APP}/dist`,
    });
    try {
      if (mode === "production") {
        await use({ url: proxy.url, audit: proxy.audit });
        return;
      }
      const vite = spawn("node_modules/.bin/vite", ["--port", String(port), "--strictPort"], {
        cwd: APP,
        env: { ...process.env, UNLINK_PROXY_URL: proxy.url, NO_COLOR: "1" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      try {
        await new Promise<void>((resolve, reject) => {
          vite.stdout.on("data", (chunk) => String(chunk).includes(`:${port}/`) && resolve());
          vite.on("exit", (code) => reject(new Error(`vite exited (${code})`)));
        });
        await use({ url: `http://127.0.0.1:${port}`, audit: proxy.audit });
      } finally {
        if (vite.exitCode === null) {
          vite.kill("SIGTERM");
          await once(vite, "exit");
        }
      }
    } finally {
      await proxy.stop();
    }
  },

  baseURL: async ({ app }, use) => use(app.url),

  consoleErrors: [
    async ({ page }, use) => {
      const errors: string[] = [];
      page.on("console", (message) => message.type() === "error" && errors.push(message.text()));
      page.on("pageerror", (error) => errors.push(`uncaught: ${error.message}`));
      await use(errors);
      // The shared account belongs to someone else: its refusal (403) is the only error.
      expect(errors.filter((e) => !/status of 403/.test(e)), "console errors").toEqual([]);
    },
    { auto: true },
  ],
});

/** Triggers, dialogs and unlink widgets in the whole document. */
async function census(page: Page) {
  return page.evaluate(() => ({
    triggers: document.querySelectorAll(".unlink-trigger").length,
    dialogs: document.querySelectorAll("dialog").length,
    widgets: document.querySelectorAll(".unlink").length,
  }));
}

for (const mode of ["production", "development"] as const) {
  test.describe(`the React example, ${mode} build`, () => {
    test.use({ mode });

    test("one widget per account, even under StrictMode, and a re-mount for new props", async ({
      page,
    }) => {
      await page.goto("/");
      await page.getByRole("button", { name: "Linked accounts" }).click();
      const shown = page.getByRole("region", { name: "GTBank account" });
      await expect(shown.getByRole("button", { name: "Unlink bank account" })).toHaveAccessibleDescription(
        "Your GTBank account ending 1234",
      );
      const shared = page.getByRole("region", { name: "Shared account" });
      await expect(shared.getByRole("button", { name: "Unlink bank account" })).toBeVisible();
      expect(await census(page)).toEqual({ triggers: 2, dialogs: 2, widgets: 2 });

      await page.getByRole("button", { name: "Access Bank" }).click();
      const access = page.getByRole("region", { name: "Access Bank account" });
      await expect(access.getByRole("button", { name: "Unlink bank account" })).toHaveAccessibleDescription(
        "Your Access Bank account ending 5678",
      );
      expect(await census(page)).toEqual({ triggers: 2, dialogs: 2, widgets: 2 });
    });

    test("the whole flow works and its events reach React", async ({ page, app }) => {
      await page.goto("/");
      await page.getByRole("button", { name: "Linked accounts" }).click();
      await page.getByRole("button", { name: "Access Bank" }).click();
      const access = page.getByRole("region", { name: "Access Bank account" });
      await access.getByRole("button", { name: "Unlink bank account" }).click();
      const dialog = access.getByRole("dialog", { name: "Unlink bank account?" });
      await expect(dialog.getByRole("button", { name: "Cancel" })).toBeFocused();
      await dialog.getByRole("button", { name: "Unlink account" }).click();
      await expect(access.locator(".unlink-done")).toHaveText("Bank account unlinked.");
      await expect(access.locator(".unlink-done")).toBeFocused();

      const events = page.getByRole("list", { name: "Events" }).getByRole("listitem");
      await expect(events).toHaveText([
        `unlink:open ${ACCESS}`,
        `unlink:confirm ${ACCESS}`,
        `unlink:success ${ACCESS}`,
      ]);
      expect(app.audit().map((r) => [r.kind, r.account_id, r.outcome])).toEqual([
        ["intent", ACCESS, null],
        ["unlink", ACCESS, "unlinked"],
      ]);

      // The element rendered by JSX: the proxy refuses an account the user does not own.
      const shared = page.getByRole("region", { name: "Shared account" });
      await shared.getByRole("button", { name: "Unlink bank account" }).click();
      await shared.getByRole("button", { name: "Unlink account" }).click();
      await expect(shared.getByRole("alert")).toHaveText("You aren’t allowed to unlink this account.");
    });

    test("leaving the page leaves no widget, dialog or listener behind", async ({ page }) => {
      const cdp = await page.context().newCDPSession(page);
      const listeners = async () => {
        await cdp.send("HeapProfiler.collectGarbage");
        return (await cdp.send("Memory.getDOMCounters")).jsEventListeners;
      };
      await page.goto("/");
      await expect(page.getByRole("heading", { name: "Home" })).toBeVisible();
      const before = await listeners();

      for (let i = 0; i < 3; i++) {
        await page.getByRole("button", { name: "Linked accounts" }).click();
        await expect(page.locator(".unlink-trigger")).toHaveCount(2);
        await page.getByRole("button", { name: "GTBank", exact: true }).click();
        await page.getByRole("button", { name: "Home" }).click();
        await expect(page.getByRole("heading", { name: "Home" })).toBeVisible();
      }
      expect(await census(page)).toEqual({ triggers: 0, dialogs: 0, widgets: 0 });
      expect(await listeners()).toBe(before);
    });
  });
}
