// The dialog with real key presses and clicks: focus order, Escape, the backdrop, double
// submits, the pending state, and answers from a misbehaving Mono.
import { GTBANK, Widget, expect, test, unlinkRequests } from "./fixtures";

test("keyboard only: Tab to the trigger, Enter opens, Escape cancels", async ({ page }) => {
  const requests = unlinkRequests(page);
  await page.goto("/");
  const gtbank = Widget.row(page, "gtbank");
  await expect(gtbank.trigger).toBeVisible(); // the wasm has loaded
  await page.keyboard.press("Tab");
  await expect(gtbank.trigger).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(gtbank.dialog).toBeVisible();
  await expect(gtbank.cancel).toBeFocused();

  await page.keyboard.press("Escape");
  await expect(gtbank.dialog).toBeHidden();
  await expect(gtbank.trigger).toBeFocused();
  await expect(page.locator("#event-log")).toContainText("unlink:cancel");

  // Space opens too; Enter on Cancel closes.
  await page.keyboard.press("Space");
  await expect(gtbank.cancel).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(gtbank.dialog).toBeHidden();
  await expect(gtbank.trigger).toBeFocused();
  expect(requests).toHaveLength(0);
});

test("Tab and Shift+Tab go round the dialog's two buttons, never to the page or the browser", async ({
  page,
}) => {
  await page.goto("/");
  const gtbank = Widget.row(page, "gtbank");
  await gtbank.open();
  const focused = () => page.evaluate(() => document.activeElement?.textContent);
  const steps: [string, string][] = [
    ["Tab", "Unlink account"],
    ["Tab", "Cancel"],
    ["Tab", "Unlink account"],
    ["Shift+Tab", "Cancel"],
    ["Shift+Tab", "Unlink account"],
    ["Shift+Tab", "Cancel"],
  ];
  for (const [key, name] of steps) {
    await page.keyboard.press(key);
    expect(await focused(), `after ${key}`).toBe(name);
  }
});

test("clicking the backdrop does not close the dialog", async ({ page }) => {
  await page.goto("/");
  const gtbank = Widget.row(page, "gtbank");
  await gtbank.open();
  await page.mouse.click(5, 5);
  await page.mouse.click(5, 600);
  await expect(gtbank.dialog).toBeVisible();
  await expect(page.locator("#event-log")).not.toContainText("unlink:cancel");
});

test.describe("a slow Mono", () => {
  test.use({ serverArgs: ["--fake-mono-fault", "*=latency:1500"] });

  test("double clicks and repeated Enter send one request; the dialog waits", async ({
    page,
  }) => {
    const requests = unlinkRequests(page);
    await page.goto("/");
    const gtbank = Widget.row(page, "gtbank");
    await gtbank.open();
    await gtbank.confirm.dblclick();
    await gtbank.confirm.focus();
    await page.keyboard.press("Enter");
    await page.keyboard.press("Enter");

    await expect(gtbank.confirm).toHaveAttribute("aria-disabled", "true");
    await expect(gtbank.cancel).toHaveAttribute("aria-disabled", "true");
    await expect(gtbank.confirm).toBeFocused();
    await expect(gtbank.progress).toHaveText("Unlinking…");
    // Escape, even twice (which Chrome does not let a page cancel), keeps the dialog up
    // and focus where the answer will be.
    await page.keyboard.press("Escape");
    await page.keyboard.press("Escape");
    await expect(gtbank.dialog).toBeVisible();
    await expect(gtbank.confirm).toBeFocused();
    // Playwright will not click an aria-disabled button unless forced; a user can.
    await gtbank.cancel.click({ force: true });
    await expect(gtbank.dialog).toBeVisible();

    await expect(gtbank.done).toHaveText("Bank account unlinked.");
    expect(requests).toHaveLength(1);
    expect(new URL(requests[0].url).pathname).toBe(`/api/mono/accounts/${GTBANK}/unlink`);
    await expect(page.locator("#event-log")).not.toContainText("unlink:cancel");
  });
});

test.describe("Mono slower than the proxy's deadline", () => {
  test.use({
    serverArgs: ["--fake-mono-fault", "*=latency:5000", "--deadline", "2s"],
    expectedConsoleErrors: [/status of 50\d/],
  });

  test("after Escape twice while pending, the error finds focus on Unlink account", async ({
    page,
  }) => {
    const requests = unlinkRequests(page);
    await page.goto("/");
    const gtbank = Widget.row(page, "gtbank");
    await gtbank.open();
    await page.keyboard.press("Tab");
    await expect(gtbank.confirm).toBeFocused();
    await page.keyboard.press("Enter");
    await expect(gtbank.progress).toHaveText("Unlinking…");
    await page.keyboard.press("Escape");
    await page.keyboard.press("Escape");

    await expect(gtbank.alert).not.toHaveText("");
    await expect(gtbank.cancel).not.toHaveAttribute("aria-disabled");
    await expect(gtbank.confirm).toBeFocused();
    // So Enter retries, as the error invites.
    await page.keyboard.press("Enter");
    await expect.poll(() => requests.length).toBe(2);
    expect(requests[1].headers["idempotency-key"]).toBe(requests[0].headers["idempotency-key"]);
  });
});

test.describe("Mono failing", () => {
  // Three 503s: the proxy retries each attempt up to 3 times, so the first try fails and
  // the retry succeeds.
  test.use({
    serverArgs: ["--fake-mono-fault", "*=503x3"],
    expectedConsoleErrors: [/status of 502/],
  });

  test("the error shows in the dialog and Unlink account retries with the same key", async ({
    page,
    server,
  }) => {
    const requests = unlinkRequests(page);
    await page.goto("/");
    const gtbank = Widget.row(page, "gtbank");
    await gtbank.open();
    await gtbank.confirm.click();
    await expect(gtbank.alert).toHaveText("We couldn’t unlink your account. Try again.");
    await expect(gtbank.dialog).toBeVisible();
    await expect(gtbank.confirm).toBeFocused();

    await gtbank.confirm.click();
    await expect(gtbank.done).toHaveText("Bank account unlinked.");
    expect(requests).toHaveLength(2);
    expect(requests[1].headers["idempotency-key"]).toBe(requests[0].headers["idempotency-key"]);
    expect(server.answers().map((r) => [r.outcome, r.attempts])).toEqual([
      ["upstream_unavailable", 3],
      ["unlinked", 1],
    ]);
  });
});

test.describe("rate limits", () => {
  test.use({
    serverArgs: ["--rate-limit-per-minute", "1"],
    expectedConsoleErrors: [/status of 429/],
  });

  test("too many attempts says how long to wait", async ({ page }) => {
    await page.goto("/");
    const gtbank = Widget.row(page, "gtbank");
    await gtbank.open();
    await gtbank.confirm.click();
    await expect(gtbank.done).toHaveText("Bank account unlinked.");

    const access = Widget.row(page, "access");
    await access.open();
    await access.confirm.click();
    await expect(access.alert).toHaveText(/^Too many attempts\. Try again in \d+ seconds\.$/);
    await expect(page.locator("#event-log")).toContainText('"code":"rate_limited"');
  });
});
