// The demo flow through the reference set-up for several replicas: nginx balancing two
// proxies that share one PostgreSQL record (scripts/replicas.sh, started by scripts/test.sh).
import { expect, test } from "@playwright/test";
import { Widget } from "./fixtures";

test.beforeAll(() => {
  if (!process.env.UNLINK_REPLICAS_URL) {
    throw new Error("UNLINK_REPLICAS_URL is not set: run scripts/replicas.sh (make test does)");
  }
});

test("nginx, two replicas: unlink, a reload finds it done, someone else's refused", async ({
  page,
}) => {
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto("/");
  const gtbank = Widget.row(page, "gtbank");
  await gtbank.open();
  await gtbank.confirm.click();
  await expect(gtbank.done).toHaveText("Bank account unlinked.");
  await expect(gtbank.done).toBeFocused();

  // The next page load may well reach the other replica: the record is shared, and the
  // widget's look-up (check-status) finds the account unlinked without a click.
  await page.reload();
  await expect(gtbank.done).toHaveText("This bank account was already unlinked.");
  await expect(gtbank.trigger).toBeHidden();

  const kuda = Widget.row(page, "kuda");
  await kuda.open();
  await kuda.confirm.click();
  await expect(kuda.alert).toHaveText("You aren’t allowed to unlink this account.");
  expect(errors).toEqual([]);
});
