// Only Mono's own answer may tell a user their account is unlinked. A gateway's 404 page
// where Mono should be is a failure in words, never "already unlinked".
import { GTBANK, Widget, expect, test } from "./fixtures";

test.describe("a gateway answering 404 pages where Mono should be", () => {
  test.use({
    serverArgs: ["--fake-mono-fault", "*=html404"],
    expectedConsoleErrors: [/status of 502/],
  });

  test("the widget says it failed, not that the account was unlinked", async ({
    page,
    server,
  }) => {
    await page.goto("/");
    const gtbank = Widget.row(page, "gtbank");
    await gtbank.open();
    await gtbank.confirm.click();
    await expect(gtbank.alert).toHaveText("We couldn’t unlink your account. Try again.");
    await expect(gtbank.dialog).toBeVisible();
    await expect(gtbank.done).toHaveText("");
    await expect(gtbank.trigger).toBeVisible();
    await expect(page.locator("#event-log")).toContainText('"code":"server_error"');
    await expect(page.locator("#event-log")).not.toContainText("unlink:success");
    expect(server.answers()).toMatchObject([
      { account_id: GTBANK, outcome: "upstream_unexpected", upstream_status: 404 },
    ]);
  });
});
