// The CDN folder (target/package/cdn/<version>/) as a partner would host it: embed.html
// served as it is, under the reference proxy's strict Content-Security-Policy, with its
// integrity attributes; precompressed files; and what happens when a file was changed.
import { expect, test as base } from "@playwright/test";
import { readFileSync } from "node:fs";
import { unlinkRequests } from "../e2e/fixtures";
import { startProxy } from "../support/proxy.mjs";

const VERSION = readFileSync("Cargo.toml", "utf8").match(/^version = "(.*)"$/m)![1];
const CDN = `target/package/cdn/${VERSION}`;

const test = base.extend<{
  server: { url: string; audit: () => { kind: string; outcome: string | null }[] };
  consoleErrors: string[];
}>({
  server: async ({}, use, testInfo) => {
    const proxy = await startProxy(testInfo.outputPath("audit.sqlite3"), [], { staticDir: CDN });
    await use(proxy);
    await proxy.stop();
  },
  baseURL: async ({ server }, use) => use(server.url),
  consoleErrors: async ({ page }, use) => {
    const errors: string[] = [];
    page.on("console", (message) => message.type() === "error" && errors.push(message.text()));
    page.on("pageerror", (error) => errors.push(`uncaught: ${error.message}`));
    await use(errors);
  },
});

test("embed.html works as it is, under a strict CSP, from precompressed files", async ({
  page,
  server,
  consoleErrors,
}) => {
  const encodings: Record<string, string | undefined> = {};
  page.on("response", (response) => {
    const name = new URL(response.url()).pathname.slice(1);
    encodings[name] = response.headers()["content-encoding"];
  });
  const response = await page.goto("/embed.html");
  expect(response!.headers()["content-security-policy"]).toContain(
    "script-src 'self' 'wasm-unsafe-eval'",
  );

  const trigger = page.getByRole("button", { name: "Unlink bank account" });
  await trigger.click();
  await page.getByRole("button", { name: "Unlink account" }).click();
  await expect(page.locator(".unlink-done")).toHaveText("Bank account unlinked.");
  expect(server.audit().map((row) => [row.kind, row.outcome])).toEqual([
    ["intent", null],
    ["unlink", "unlinked"],
  ]);
  expect(encodings).toMatchObject({ "unlink.js": "br", "unlink.wasm": "br", "unlink.css": "br" });
  // No CSP violation, no integrity failure, nothing else.
  expect(consoleErrors).toEqual([]);
});

test("a changed unlink.js is refused by the page's integrity attribute", async ({
  page,
  server,
  consoleErrors,
}) => {
  const posts = unlinkRequests(page);
  await page.route("**/unlink.js", async (route) => {
    const original = await route.fetch();
    const changed = (await original.text()).replace("Unlinking", "Unl1nking");
    await route.fulfill({ response: original, body: changed, headers: { "content-type": "text/javascript" } });
  });
  await page.goto("/embed.html");
  await expect.poll(() => consoleErrors.join("\n")).toMatch(/integrity/);
  await expect(page.locator("unlink-account")).toBeEmpty();
  expect(posts).toEqual([]);
  expect(server.audit()).toEqual([]);
});

test("a changed unlink.wasm is refused by unlink.js: a calm sentence and no request", async ({
  page,
  server,
  consoleErrors,
}) => {
  const posts = unlinkRequests(page);
  const built = readFileSync(`${CDN}/unlink.wasm`);
  const changed = Buffer.from(
    built.toString("latin1").replace("Unlink bank account", "Unlink bank acc0unt"),
    "latin1",
  );
  await page.route("**/unlink.wasm", (route) =>
    route.fulfill({ body: changed, contentType: "application/wasm" }),
  );
  await page.goto("/embed.html");
  await expect(page.locator(".unlink-misconfigured")).toHaveText("Unlinking isn’t available right now.");
  await expect(page.getByRole("button")).toHaveCount(0);
  expect(consoleErrors.some((e) => /unlink-widget: could not start: \S+\/unlink\.wasm /.test(e))).toBe(true);
  expect(posts).toEqual([]);
  expect(server.audit()).toEqual([]);
});
