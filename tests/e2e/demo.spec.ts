// The demo partner page, end to end: real clicks, real POSTs to the real proxy, the fake
// Mono really unlinking, and the audit trail on disk.
import { ACCESS, GTBANK, KUDA, Widget, expect, test, unlinkRequests } from "./fixtures";

test("the page embeds two widgets, by markup and by mount()", async ({ page }) => {
  // The embed snippet preloads the wasm with the integrity unlink.js checks: one download.
  const wasm: string[] = [];
  const warnings: string[] = [];
  page.on("request", (request) => request.url().endsWith(".wasm") && wasm.push(request.url()));
  page.on("console", (message) => message.type() === "warning" && warnings.push(message.text()));
  await page.goto("/");
  await expect(page.getByRole("heading", { name: "Linked accounts" })).toBeVisible();
  await expect(Widget.row(page, "gtbank").trigger).toBeVisible();
  await expect(Widget.row(page, "access").trigger).toBeVisible();
  await expect(page.locator("unlink-account#gtbank, #gtbank unlink-account")).toHaveCount(1);
  expect(wasm.map((url) => new URL(url).pathname)).toEqual(["/unlink.wasm"]);
  expect(warnings).toEqual([]);
});

test("unlinking through the custom element", async ({ page, server }) => {
  const requests = unlinkRequests(page);
  // A second tab, open before the unlink: its look-up (check-status) found the account linked.
  const otherTab = await page.context().newPage();
  const looked = otherTab.waitForResponse((r) => r.url().endsWith(`/accounts/${GTBANK}`));
  await otherTab.goto("/");
  expect(await (await looked).json()).toMatchObject({ data: { state: "linked" } });
  await page.goto("/");
  const gtbank = Widget.row(page, "gtbank");
  await gtbank.open();

  await expect(gtbank.dialog).toHaveAccessibleName("Unlink bank account?");
  await expect(gtbank.dialog).toHaveAccessibleDescription(
    "Your GTBank account ending 1234 will be unlinked. Its data will be deleted and this app " +
      "will lose access to it. You can link it again later.",
  );
  await expect(gtbank.cancel).toBeFocused();

  await expect(gtbank.done).toBeHidden();
  await gtbank.confirm.click();
  await expect(gtbank.done).toHaveText("Bank account unlinked.");
  await expect(gtbank.done).toBeVisible();
  await expect(gtbank.done).toBeFocused();
  await expect(gtbank.dialog).toBeHidden();
  await expect(gtbank.trigger).toBeHidden();
  await expect(page.locator("#event-log")).toContainText("unlink:success");

  expect(requests).toHaveLength(1);
  expect(new URL(requests[0].url).pathname).toBe(`/api/mono/accounts/${GTBANK}/unlink`);
  const key = requests[0].headers["idempotency-key"];
  expect(key).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);

  // The proxy wrote its intent down before calling Mono, and the outcome before answering.
  const rows = server.audit();
  expect(rows).toHaveLength(2);
  expect(rows[0]).toMatchObject({
    kind: "intent",
    account_id: GTBANK,
    outcome: null,
    idempotency_key: key,
    principal: "demo-user",
  });
  expect(rows[1]).toMatchObject({
    kind: "unlink",
    account_id: GTBANK,
    outcome: "unlinked",
    idempotency_key: key,
    principal: "demo-user",
    source: "upstream",
    attempts: 1,
    intent_id: rows[0].id,
  });

  // Reloaded, the page asks the record and offers nothing more (check-status).
  await page.reload();
  await expect(gtbank.done).toHaveText("This bank account was already unlinked.");
  await expect(gtbank.trigger).toBeHidden();
  expect(requests).toHaveLength(1);

  // The stale tab still offers the button; a second try: Mono no longer knows the account.
  const stale = Widget.row(otherTab, "gtbank");
  await stale.open();
  await stale.confirm.click();
  await expect(stale.done).toHaveText("This bank account was already unlinked.");
  expect(server.answers().map((r) => r.outcome)).toEqual(["unlinked", "already_unlinked"]);
});

test("unlinking through mount()", async ({ page, server }) => {
  await page.goto("/");
  const access = Widget.row(page, "access");
  await access.open();
  await expect(access.dialog).toHaveAccessibleDescription(/Access Bank account ending 5678/);
  await access.confirm.click();
  await expect(access.done).toHaveText("Bank account unlinked.");
  await expect(page.locator("#access")).toHaveAttribute("data-unlinked", "");
  expect(server.answers()[0]).toMatchObject({ account_id: ACCESS, outcome: "unlinked" });
});

test.describe("a refusal", () => {
  // Chrome logs every 4xx answer to the console; this one is expected.
  test.use({ expectedConsoleErrors: [/status of 403/] });

  test("an account the user does not own is refused in words", async ({ page, server }) => {
    await page.goto("/");
    const kuda = Widget.row(page, "kuda");
    await kuda.open();
    await kuda.confirm.click();
    await expect(kuda.alert).toHaveText("You aren’t allowed to unlink this account.");
    await expect(kuda.dialog).toBeVisible();
    await expect(kuda.confirm).not.toHaveAttribute("aria-disabled", "true");
    await expect(page.locator("#event-log")).toContainText('"code":"not_allowed"');
    expect(server.audit()).toMatchObject([{ account_id: KUDA, outcome: "forbidden" }]);

    // Cancel, then open again: a fresh dialog.
    await kuda.cancel.click();
    await expect(kuda.trigger).toBeFocused();
    await kuda.open();
    // No stale error: the alert is absent while it has nothing to say (Firefox announces an
    // alert when it appears).
    await expect(kuda.alert).toHaveCount(0);
  });
});
