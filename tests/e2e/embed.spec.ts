// Embedding as a partner would: bare pages (served from the proxy's origin) that load
// unlink.js and use the custom element or the JS API.
import type { Page } from "@playwright/test";
import { readFileSync } from "node:fs";
import { ACCESS, GTBANK, Widget, expect, test, unlinkRequests } from "./fixtures";

/** Serves `body` as /embed-test.html, with the bundle's stylesheet and entry module. */
async function embed(page: Page, body: string, { dir = "ltr", script = "" } = {}) {
  await page.route("**/embed-test.html", (route) =>
    route.fulfill({
      contentType: "text/html",
      body: `<!doctype html><html lang="en" dir="${dir}"><head><meta charset="utf-8">
        <title>Embed test</title><link rel="stylesheet" href="/unlink.css">
        <script type="module" src="/unlink.js"></script>
        <script type="module">${script}</script></head>
        <body><main>${body}</main></body></html>`,
    }),
  );
  await page.goto("/embed-test.html");
}

test("custom element attributes: locale, wording, and changes after connect", async ({
  page,
}) => {
  await embed(
    page,
    `<unlink-account id="w" account-id="${GTBANK}" endpoint="/api/mono" bank="GTBank"
       mask="0001234" locale="fr" text-cancel="Non merci"></unlink-account>`,
  );
  const w = page.locator("#w");
  const trigger = w.getByRole("button", { name: "Dissocier le compte bancaire" });
  await trigger.click();
  const dialog = w.getByRole("dialog", { name: "Dissocier le compte bancaire\u202F?" });
  await expect(dialog).toHaveAccessibleDescription(/^Votre compte GTBank se terminant par 1234 sera dissocié\./);
  await expect(dialog.getByRole("button", { name: "Non merci" })).toBeFocused();
  await page.keyboard.press("Escape");

  await w.evaluate((el) => el.setAttribute("locale", "en"));
  await expect(w.getByRole("button", { name: "Unlink bank account" })).toBeVisible();
  await expect(w.locator(".unlink")).toHaveCount(1);
});

test("removing the element removes the widget", async ({ page }) => {
  await embed(page, `<unlink-account id="w" account-id="${GTBANK}" endpoint="/api/mono"></unlink-account>`);
  const w = page.locator("#w");
  await expect(w.getByRole("button", { name: "Unlink bank account" })).toBeVisible();
  const left = await page.evaluate(() => {
    const element = document.getElementById("w")!;
    element.remove();
    return element.innerHTML;
  });
  expect(left).toBe("");
});

test("mount() returns a handle; events bubble with details; unmount() cleans up", async ({
  page,
}) => {
  const requests = unlinkRequests(page);
  await embed(page, `<div id="host"></div><ol id="log"></ol>`, {
    script: `
      import { mount } from "/unlink.js";
      for (const type of ["unlink:open", "unlink:confirm", "unlink:success"]) {
        document.addEventListener(type, (e) => {
          const li = document.createElement("li");
          li.textContent = type + " " + JSON.stringify(e.detail) + " " + e.target.id;
          document.getElementById("log").append(li);
        });
      }
      window.handle = mount(document.getElementById("host"), {
        accountId: "${ACCESS}", endpoint: "/api/mono", bank: "Access Bank", mask: "5678",
        headers: { "X-CSRF-Token": "t0k3n" },
      });`,
  });
  const widget = new Widget(page, page.locator("#host"));
  await widget.open();
  await widget.confirm.click();
  await expect(widget.done).toHaveText("Bank account unlinked.");
  expect(requests[0].headers["x-csrf-token"]).toBe("t0k3n");

  const log = await page.locator("#log li").allTextContents();
  expect(log[0]).toBe(`unlink:open {"accountId":"${ACCESS}"} host`);
  expect(log[1]).toMatch(new RegExp(`^unlink:confirm \\{"accountId":"${ACCESS}","idempotencyKey":"[0-9a-f-]{36}"\\} host$`));
  const success = JSON.parse(log[2].slice("unlink:success ".length, -" host".length));
  expect(success).toMatchObject({ accountId: ACCESS, status: 200, alreadyUnlinked: false });
  expect(success.requestId).toMatch(/^[0-9a-f-]{36}$/);

  await page.evaluate(() => (window as any).handle.unmount());
  await expect(page.locator("#host")).toBeEmpty();
  await page.evaluate(() => (window as any).handle.unmount()); // twice is harmless
});

test.describe("bad options", () => {
  test.use({ expectedConsoleErrors: [/unlink-widget: cannot show the Unlink button/] });

  test("log a clear error, show a calm sentence, and leave other widgets working", async ({
    page,
  }) => {
    const errors: string[] = [];
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
    await embed(
      page,
      `<div id="bad"></div>
       <unlink-account id="bad-locale" account-id="${GTBANK}" endpoint="/api/mono" locale="de"></unlink-account>
       <unlink-account id="good" account-id="${GTBANK}" endpoint="/api/mono"></unlink-account>`,
      {
        script: `import { mount } from "/unlink.js";
          mount(document.getElementById("bad"), { endpoint: "/api/mono", accountId: "../etc" });`,
      },
    );
    await expect(page.locator("#bad")).toHaveText("Unlinking isn’t available right now.");
    await expect(page.locator("#bad-locale")).toHaveText("Unlinking isn’t available right now.");
    await expect(page.locator("#bad").getByRole("button")).toHaveCount(0);
    expect(errors.join("\n")).toContain("`accountId` must be 1 to 64 characters");
    expect(errors.join("\n")).toContain('`locale` "de" is not supported');

    const good = new Widget(page, page.locator("#good"));
    await good.open();
    await expect(good.cancel).toBeFocused();
  });
});

test.describe("a proxy slower than the widget's timeout", () => {
  test.use({
    serverArgs: ["--fake-mono-fault", "*=latency:4000"],
  });

  test("aborts and says so", async ({ page }) => {
    await embed(
      page,
      `<unlink-account id="w" account-id="${GTBANK}" endpoint="/api/mono" timeout="1000"></unlink-account><ol id="log"></ol>`,
      {
        script: `document.addEventListener("unlink:error", (e) => {
          document.getElementById("log").textContent = JSON.stringify(e.detail); });`,
      },
    );
    const widget = new Widget(page, page.locator("#w"));
    await widget.open();
    await widget.confirm.click();
    await expect(widget.alert).toHaveText("We couldn’t unlink your account. Try again.", {
      timeout: 3000,
    });
    await expect(page.locator("#log")).toContainText('"code":"timeout"');
    await expect(page.locator("#log")).toContainText('"status":null');
  });
});

test.describe("an unlink.wasm changed after the build", () => {
  // One pattern: Playwright would read a second array element as fixture options.
  test.use({ expectedConsoleErrors: [/integrity|unlink-widget: could not start: \S+\/unlink\.wasm /] });

  test("is refused before it runs: a calm sentence, the reason in the console, no request", async ({
    page,
  }) => {
    const requests = unlinkRequests(page);
    const errors: string[] = [];
    page.on("console", (message) => message.type() === "error" && errors.push(message.text()));
    // Still valid WebAssembly, with other wording: only the hash tells it apart.
    const built = readFileSync("dist/unlink.wasm");
    const changed = Buffer.from(
      built.toString("latin1").replace("Unlink bank account", "Unlink bank acc0unt"),
      "latin1",
    );
    expect(changed.equals(built)).toBe(false);
    await page.route("**/unlink.wasm", (route) =>
      route.fulfill({ body: changed, contentType: "application/wasm" }),
    );
    await embed(
      page,
      `<unlink-account id="en" account-id="${GTBANK}" endpoint="/api/mono"></unlink-account>
       <unlink-account id="fr" account-id="${GTBANK}" endpoint="/api/mono" locale="fr"></unlink-account>
       <unlink-account id="own" account-id="${GTBANK}" endpoint="/api/mono"
         text-misconfigured="Not now."></unlink-account>`,
    );
    await expect(page.locator("#en .unlink-misconfigured")).toHaveText("Unlinking isn’t available right now.");
    await expect(page.locator("#fr .unlink-misconfigured")).toHaveText(
      "La dissociation n’est pas disponible pour le moment.",
    );
    await expect(page.locator("#own .unlink-misconfigured")).toHaveText("Not now.");
    await expect(page.getByRole("button")).toHaveCount(0);
    expect(errors.some((e) => /unlink-widget: could not start: \S+\/unlink\.wasm /.test(e))).toBe(true);
    const ready = await page.evaluate(() =>
      import("/unlink.js").then(({ ready }) => ready.then(() => "ran", () => "refused")),
    );
    expect(ready).toBe("refused");
    expect(requests).toEqual([]);
  });
});
