// Look and layout: small screens, right-to-left, forced colours, reduced motion, target
// sizes, and the strict CSP the demo page is served with.
import type { Page } from "@playwright/test";
import { GTBANK, Widget, expect, test } from "./fixtures";

test.describe("on a 320 px wide screen", () => {
  test.use({ viewport: { width: 320, height: 640 } });

  test("the dialog fits without horizontal scrolling", async ({ page }) => {
    await page.goto("/");
    const gtbank = Widget.row(page, "gtbank");
    await gtbank.open();
    const box = (await gtbank.dialog.boundingBox())!;
    expect(box.x).toBeGreaterThanOrEqual(0);
    expect(box.x + box.width).toBeLessThanOrEqual(320);
    expect(box.y + box.height).toBeLessThanOrEqual(640);
    const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(scrollWidth).toBeLessThanOrEqual(320);
    for (const button of [gtbank.cancel, gtbank.confirm]) {
      const b = (await button.boundingBox())!;
      expect(b.x + b.width).toBeLessThanOrEqual(box.x + box.width);
    }
  });
});

// 400 % zoom on a 1280 × 1024 screen leaves 320 × 256 CSS px: the question must be the
// first thing in view; in English the account and both buttons fit too.
for (const lang of ["en", "fr"]) {
  test.describe(`at 400 % zoom (320 × 256 CSS px), ${lang}`, () => {
    test.use({ viewport: { width: 320, height: 256 } });

    test("the dialog opens at its question", async ({ page }) => {
      await page.goto("/");
      await page
        .locator("#gtbank unlink-account")
        .evaluate((element, lang) => element.setAttribute("locale", lang), lang);
      const root = page.locator(`#gtbank .unlink[lang=${lang}]`);
      await root.locator(".unlink-trigger").click();
      await expect(root.locator("dialog")).toBeVisible();
      const parts = ["dialog", ".unlink-title", ".unlink-description", ".unlink-cancel", ".unlink-confirm"];
      const boxes = await root.evaluate(async (root, parts) => {
        // Measured where the dialog settles, after its opening slide.
        await Promise.all(document.getAnimations().map((animation) => animation.finished));
        return parts.map((selector) => {
          const element = root.querySelector(selector) ?? root.querySelector("dialog")!;
          const { top, bottom } = element.getBoundingClientRect();
          return { selector, top, bottom, scrollTop: element.scrollTop };
        });
      }, parts);
      const [box, ...inside] = boxes;
      expect(box.scrollTop, "the dialog opens scrolled to its top").toBe(0);
      expect(box.top).toBeGreaterThanOrEqual(0);
      expect(box.bottom).toBeLessThanOrEqual(256);
      // English fits whole; longer French needs the dialog's scrollbar for its buttons.
      for (const part of lang === "en" ? inside : inside.slice(0, 1)) {
        expect(part.top, `${part.selector} top`).toBeGreaterThanOrEqual(box.top);
        expect(part.bottom, `${part.selector} bottom`).toBeLessThanOrEqual(box.bottom);
      }
    });
  });
}

test("every target is at least 24 × 24 px", async ({ page }) => {
  await page.goto("/");
  const gtbank = Widget.row(page, "gtbank");
  const sizes = [await gtbank.trigger.boundingBox()];
  await gtbank.open();
  sizes.push(await gtbank.cancel.boundingBox(), await gtbank.confirm.boundingBox());
  for (const size of sizes) {
    expect(size!.width).toBeGreaterThanOrEqual(24);
    expect(size!.height).toBeGreaterThanOrEqual(24);
  }
});

test("the trigger is neutral and only the confirming button is red", async ({ page }) => {
  await page.goto("/");
  const gtbank = Widget.row(page, "gtbank");
  const background = (l: typeof gtbank.trigger) =>
    l.evaluate((el) => getComputedStyle(el).backgroundColor);
  expect(await background(gtbank.trigger)).toBe("rgb(255, 255, 255)");
  await gtbank.open();
  expect(await background(gtbank.cancel)).toBe("rgb(255, 255, 255)");
  expect(await background(gtbank.confirm)).toBe("rgb(180, 35, 24)");
});

test("right to left: the layout mirrors", async ({ page }) => {
  await page.route("**/rtl.html", (route) =>
    route.fulfill({
      contentType: "text/html",
      body: `<!doctype html><html lang="ar" dir="rtl"><head><meta charset="utf-8"><title>RTL</title>
        <link rel="stylesheet" href="/unlink.css"><script type="module" src="/unlink.js"></script>
        </head><body><main><unlink-account id="w" account-id="${GTBANK}" endpoint="/api/mono">
        </unlink-account></main></body></html>`,
    }),
  );
  await page.goto("/rtl.html");
  const widget = new Widget(page, page.locator("#w"));
  await widget.open();
  const cancel = (await widget.cancel.boundingBox())!;
  const confirm = (await widget.confirm.boundingBox())!;
  expect(confirm.x).toBeLessThan(cancel.x); // "Unlink account" ends the line, on the left
  const title = widget.dialog.getByRole("heading");
  expect(await title.evaluate((el) => getComputedStyle(el).textAlign)).toBe("start");
  const dialogBox = (await widget.dialog.boundingBox())!;
  const titleBox = (await title.boundingBox())!;
  // The heading starts at the dialog's right edge (minus padding).
  expect(dialogBox.x + dialogBox.width - (titleBox.x + titleBox.width)).toBeLessThan(40);
});

test("forced colours keep the buttons outlined", async ({ page }) => {
  await page.emulateMedia({ forcedColors: "active" });
  await page.goto("/");
  const gtbank = Widget.row(page, "gtbank");
  await gtbank.open();
  for (const button of [gtbank.cancel, gtbank.confirm]) {
    const border = await button.evaluate((el) => {
      const style = getComputedStyle(el);
      return [style.borderTopStyle, parseFloat(style.borderTopWidth)] as const;
    });
    expect(border[0]).toBe("solid");
    expect(border[1]).toBeGreaterThanOrEqual(1);
  }
});

async function openingAnimation(page: Page): Promise<string> {
  await page.goto("/");
  const gtbank = Widget.row(page, "gtbank");
  await gtbank.open();
  return gtbank.dialog.evaluate((el) => getComputedStyle(el).animationName);
}

test("motion only without a reduced-motion preference", async ({ page }) => {
  await page.emulateMedia({ reducedMotion: "reduce" });
  expect(await openingAnimation(page)).toBe("none");
  await page.emulateMedia({ reducedMotion: "no-preference" });
  expect(await openingAnimation(page)).toBe("unlink-dialog-in");
});

test("a visible focus ring of our own", async ({ page }) => {
  await page.goto("/");
  const gtbank = Widget.row(page, "gtbank");
  await expect(gtbank.trigger).toBeVisible();
  await page.keyboard.press("Tab");
  const outline = await gtbank.trigger.evaluate((el) => {
    const style = getComputedStyle(el);
    return { style: style.outlineStyle, width: parseFloat(style.outlineWidth), color: style.outlineColor };
  });
  expect(outline).toEqual({ style: "solid", width: 3, color: "rgb(11, 87, 208)" });
});

test("the demo runs under a strict Content-Security-Policy", async ({ page }) => {
  const violations: string[] = [];
  await page.exposeFunction("reportViolation", (v: string) => violations.push(v));
  await page.addInitScript(() =>
    document.addEventListener("securitypolicyviolation", (e) =>
      (window as any).reportViolation(`${e.violatedDirective} ${e.blockedURI}`),
    ),
  );
  const response = await page.goto("/");
  const csp = response!.headers()["content-security-policy"];
  expect(csp).toContain("script-src 'self' 'wasm-unsafe-eval'");
  expect(csp).not.toContain("unsafe-inline");
  const gtbank = Widget.row(page, "gtbank");
  await gtbank.open();
  await gtbank.confirm.click();
  await expect(gtbank.done).toHaveText("Bank account unlinked.");
  expect(violations).toEqual([]);
});

test("the widget's CSS only selects its own elements", async ({ page }) => {
  await page.goto("/");
  const strays = await page.evaluate(() => {
    const sheet = [...document.styleSheets].find((s) => s.href?.endsWith("/unlink.css"))!;
    const bad: string[] = [];
    const visit = (rules: CSSRuleList) => {
      for (const rule of rules) {
        if (rule instanceof CSSStyleRule) {
          for (const selector of rule.selectorText.split(",")) {
            if (!/^\s*(\.unlink\b|unlink-account\b)/.test(selector)) bad.push(selector);
          }
        } else if (rule instanceof CSSKeyframesRule) {
          if (!rule.name.startsWith("unlink-")) bad.push(`@keyframes ${rule.name}`);
        } else if ("cssRules" in rule) {
          visit((rule as CSSGroupingRule).cssRules);
        }
      }
    };
    visit(sheet.cssRules);
    return bad;
  });
  expect(strays).toEqual([]);
});

test("typical page rules do not reshape the widget", async ({ page }) => {
  await page.route("**/busy-page.html", (route) =>
    route.fulfill({
      contentType: "text/html",
      body: `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Busy</title>
        <link rel="stylesheet" href="/unlink.css"><script type="module" src="/unlink.js"></script>
        <style>p, h2, button { margin: 40px; font-size: 30px; color: red; background: yellow; }
          .card p, .card h2, .card button { padding: 30px; line-height: 4; }</style>
        </head><body><main class="card"><unlink-account id="w" account-id="${GTBANK}"
        endpoint="/api/mono"></unlink-account></main></body></html>`,
    }),
  );
  await page.goto("/busy-page.html");
  const widget = new Widget(page, page.locator("#w"));
  await widget.open();
  const style = (selector: string, property: string) =>
    page.locator(`#w ${selector}`).evaluate((el, p) => getComputedStyle(el).getPropertyValue(p), property);
  expect(await style(".unlink-title", "font-size")).toBe("20px");
  expect(await style(".unlink-title", "margin-top")).toBe("0px");
  expect(await style(".unlink-description", "margin-bottom")).toBe("16px");
  expect(await style(".unlink-description", "color")).toBe("rgb(31, 35, 40)");
  expect(await style(".unlink-description", "line-height")).toBe("24px");
  expect(await style(".unlink-confirm", "background-color")).toBe("rgb(180, 35, 24)");
  expect(await style(".unlink-cancel", "margin-top")).toBe("0px");
});
