// axe in every state the widget can be in, and the accessibility tree of the open dialog.
import AxeBuilder from "@axe-core/playwright";
import type { Page } from "@playwright/test";
import { Widget, expect, test } from "./fixtures";

async function expectNoViolations(page: Page, state: string) {
  // The dialog fades in: judge contrast once it is fully drawn (an animation cancelled because
  // the dialog closed is done too).
  await page.evaluate(() =>
    Promise.all(document.getAnimations().map((a) => a.finished.catch(() => {}))),
  );
  const results = await new AxeBuilder({ page })
    // best-practice too: it holds aria-dialog-name and the landmark rules.
    .withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"])
    .analyze();
  const summary = results.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target).join(" ")}`);
  expect(summary, `axe violations when ${state}`).toEqual([]);
}

test("no violations when closed and open", async ({ page }) => {
  await page.goto("/");
  await expectNoViolations(page, "closed");
  await Widget.row(page, "gtbank").open();
  await expectNoViolations(page, "open");
});

test.describe("while pending", () => {
  test.use({ serverArgs: ["--fake-mono-fault", "*=latency:3000"] });

  test("no violations", async ({ page }) => {
    await page.goto("/");
    const gtbank = Widget.row(page, "gtbank");
    await gtbank.open();
    await gtbank.confirm.click();
    await expect(gtbank.progress).toHaveText("Unlinking…");
    await expectNoViolations(page, "pending");
  });
});

test.describe("after an error", () => {
  test.use({ expectedConsoleErrors: [/status of 403/] });

  test("no violations", async ({ page }) => {
    await page.goto("/");
    const kuda = Widget.row(page, "kuda");
    await kuda.open();
    await kuda.confirm.click();
    await expect(kuda.alert).not.toHaveText("");
    await expectNoViolations(page, "showing an error");
  });
});

test("no violations after success", async ({ page }) => {
  await page.goto("/");
  const gtbank = Widget.row(page, "gtbank");
  await gtbank.open();
  await gtbank.confirm.click();
  await expect(gtbank.done).toHaveText("Bank account unlinked.");
  await expectNoViolations(page, "unlinked");
});

test("the open dialog's accessibility tree", async ({ page }) => {
  await page.goto("/");
  const gtbank = Widget.row(page, "gtbank");
  await gtbank.open();
  await expect(gtbank.dialog).toMatchAriaSnapshot(`
    - dialog "Unlink bank account?":
      - heading "Unlink bank account?" [level=2]
      - paragraph: Your GTBank account ending 1234 will be unlinked. Its data will be deleted and this app will lose access to it. You can link it again later.
      - button "Cancel"
      - button "Unlink account"
  `);
});

test("three identical buttons are told apart by their accounts", async ({ page }) => {
  await page.goto("/");
  const triggers = page.getByRole("button", { name: "Unlink bank account", exact: true });
  await expect(triggers).toHaveCount(3);
  const accounts = ["GTBank account ending 1234", "Access Bank account ending 5678", "Kuda account ending 9012"];
  for (const [i, account] of accounts.entries()) {
    await expect(triggers.nth(i)).toHaveAccessibleDescription(`Your ${account}`);
    // A plain button: with aria-haspopup WebKit calls it a pop-up button (a combo box).
    await expect(triggers.nth(i)).not.toHaveAttribute("aria-haspopup");
  }
  const gtbank = Widget.row(page, "gtbank");
  await gtbank.open();
  await gtbank.confirm.click();
  await expect(gtbank.done).toBeFocused();
  await expect(gtbank.done).toHaveAccessibleDescription("Your GTBank account ending 1234");
  await expect(gtbank.done).not.toHaveRole("status");
});

test("the widget speaks its own language", async ({ page }) => {
  await page.goto("/");
  const root = page.locator("#gtbank .unlink");
  await expect(root).toHaveAttribute("lang", "en");
  await page.locator("#gtbank unlink-account").evaluate((e) => e.setAttribute("locale", "fr"));
  await expect(root).toHaveAttribute("lang", "fr");
  await expect(root.getByRole("button")).toHaveAccessibleName("Dissocier le compte bancaire");
});

test("the page behind the open dialog is inert", async ({ page }) => {
  await page.goto("/");
  const access = Widget.row(page, "access");
  const box = (await access.trigger.boundingBox())!;
  await Widget.row(page, "gtbank").open();
  // Another widget's trigger can be neither focused nor clicked.
  const focused = await page.evaluate(() => {
    const trigger = document.querySelector<HTMLButtonElement>("#access .unlink-trigger")!;
    trigger.focus();
    return document.activeElement === trigger;
  });
  expect(focused).toBe(false);
  await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
  await expect(access.dialog).toBeHidden();
});

test("two widgets on one page use distinct ids", async ({ page }) => {
  await page.goto("/");
  await expect(Widget.row(page, "access").trigger).toBeVisible();
  const ids = await page.evaluate(() =>
    [...document.querySelectorAll(".unlink [id]")].map((element) => element.id),
  );
  expect(ids.length).toBe(12); // three widgets, four ids each
  expect(new Set(ids).size).toBe(ids.length);
});
