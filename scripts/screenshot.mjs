// Takes the README's pictures of the demo page: node scripts/screenshot.mjs [base URL]
// (start `make demo` first). Writes docs/dialog.png and docs/unlinked.png.
import { chromium } from "@playwright/test";

const base = process.argv[2] ?? "http://127.0.0.1:8080/";
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
const page = await browser.newPage({ viewport: { width: 880, height: 620 }, deviceScaleFactor: 1 });
await page.goto(base);
const row = page.locator("#access");
await row.getByRole("button", { name: "Unlink bank account" }).click();
await page.getByRole("dialog").waitFor();
await page.waitForTimeout(300); // let the opening fade finish
await page.screenshot({ path: "docs/dialog.png" });
await row.getByRole("button", { name: "Unlink account" }).click();
await row.locator(".unlink-done").filter({ hasText: "unlinked" }).waitFor();
await page.screenshot({ path: "docs/unlinked.png", clip: { x: 0, y: 0, width: 880, height: 420 } });
await browser.close();
console.log("wrote docs/dialog.png and docs/unlinked.png");
