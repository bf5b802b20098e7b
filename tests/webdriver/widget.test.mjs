// The demo page end to end in one engine (ENGINE=chromium|firefox|webkit), over WebDriver:
// real clicks and key presses, real POSTs to the real proxy with its fake Mono, and axe in
// every state. Playwright runs the full suite in Chromium (tests/e2e); this file proves the
// flows that matter most hold in Firefox and WebKit too. scripts/test.sh runs it per engine.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, describe, test } from "node:test";
import { Key } from "selenium-webdriver";
import { startProxy } from "../support/proxy.mjs";
import { startEngine } from "./engines.mjs";

const ENGINE = process.env.ENGINE ?? "chromium";
const GTBANK = "60770aa8c5878a2af69ed849";
const AXE_SOURCE = readFileSync("node_modules/axe-core/axe.min.js", "utf8");
const AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"];

let engine;
let proxy;
let scratch;

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), `unlink-webdriver-${ENGINE}-`));
  engine = await startEngine(ENGINE);
  await engine.driver.manage().setTimeouts({ script: 30_000 });
});

after(async () => {
  await engine?.quit();
  rmSync(scratch, { recursive: true, force: true });
});

afterEach(async () => {
  await proxy?.stop();
  proxy = undefined;
});

/** Starts a fresh proxy and loads the demo page from it, with the widgets ready. */
async function openDemo(proxyArgs = []) {
  proxy = await startProxy(join(scratch, `audit-${Date.now()}.sqlite3`), proxyArgs);
  const { driver } = engine;
  await driver.get(`${proxy.url}/`);
  await waitFor("the widgets to load", () =>
    script(`return ["gtbank", "access", "kuda"].every((id) =>
      document.querySelector("#" + id + " .unlink-trigger"))`),
  );
  // Record every unlink request the page sends, with its Idempotency-Key.
  await script(`
    window.unlinkRequests = [];
    const original = window.fetch;
    window.fetch = function (input, init) {
      if (String(input).includes("/unlink")) {
        window.unlinkRequests.push({
          url: String(input),
          key: new Headers(init && init.headers).get("idempotency-key"),
        });
      }
      return original.apply(this, arguments);
    };`);
  return driver;
}

function script(source, ...args) {
  return engine.driver.executeScript(source, ...args);
}

async function waitFor(what, condition, timeout = 10_000) {
  await engine.driver.wait(async () => Boolean(await condition()), timeout, `waiting for ${what}`);
}

/** One widget on the demo page, found by its row's id. */
function widget(row) {
  const within = (selector) => `document.querySelector("#${row} ${selector}")`;
  return {
    element: (selector) => engine.driver.findElement({ css: `#${row} ${selector}` }),
    state: () => script(`return ${within(".unlink")}?.dataset.state`),
    text: (selector) => script(`return ${within(selector)}.textContent`),
    dialogOpen: () => script(`return ${within("dialog")}.open`),
    triggerHidden: () => script(`return ${within(".unlink-trigger")}.hidden`),
    /** Waits for the dialog, then for Cancel to take focus from it (the dialog holds focus
     * for a moment first, so screen readers read it). */
    opened: async () => {
      await waitFor("the dialog", () => script(`return ${within("dialog")}.open`));
      await waitFor("Cancel to take focus", () =>
        script(`return ${within(".unlink-cancel")} === document.activeElement`));
    },
    /** Which of this widget's parts has focus: a class name, "body", or "outside". */
    focus: () =>
      script(`
        const active = document.activeElement;
        if (!active || active === document.body) return "body";
        if (!document.querySelector("#${row}").contains(active)) return "outside";
        const parts = ["unlink-trigger", "unlink-cancel", "unlink-confirm", "unlink-done", "unlink-dialog"];
        return parts.find((part) => active.classList.contains(part)) ?? active.tagName;`),
  };
}

async function press(...keys) {
  for (const key of keys) await engine.driver.actions().sendKeys(key).perform();
}

const requests = () => script("return window.unlinkRequests");
const pageErrors = () => script("return window.pageErrors");

/** The errors the page recorded (demo/demo.js): none, and the recorder itself ran. */
async function assertNoPageErrors() {
  assert.deepEqual(await pageErrors(), [], "errors on the page");
}

async function assertNoAxeViolations(state) {
  await script(AXE_SOURCE);
  const violations = await engine.driver.executeAsyncScript(
    `const done = arguments[arguments.length - 1];
     // The dialog fades in: measure contrast once it is fully drawn (an animation cancelled
     // because the dialog closed is done too).
     Promise.all(document.getAnimations().map((animation) => animation.finished.catch(() => {})))
       .then(() => axe.run(document, { runOnly: { type: "tag", values: arguments[0] } }))
       .then(
       (results) => done(results.violations.map((v) =>
         v.id + ": " + v.nodes.map((n) => n.target.join(" ")).join(", "))),
       (error) => done(["axe failed: " + error]));`,
    AXE_TAGS,
  );
  assert.deepEqual(violations, [], `axe violations when ${state} (${ENGINE})`);
}

describe(`the demo page in ${ENGINE}`, { timeout: 120_000 }, () => {
  test("keyboard: Enter opens on Cancel, Tab goes round the dialog's buttons, Escape sends nothing", async () => {
    await openDemo();
    const gtbank = widget("gtbank");
    await script(`document.querySelector("#gtbank .unlink-trigger").focus()`);
    await press(Key.ENTER);
    await gtbank.opened();

    // Round the two buttons, as the APG dialog pattern asks: never the page, the <dialog>
    // element itself, or the browser's own UI.
    const shiftTab = Key.chord(Key.SHIFT, Key.TAB);
    const steps = [
      [Key.TAB, "unlink-confirm"],
      [Key.TAB, "unlink-cancel"],
      [Key.TAB, "unlink-confirm"],
      [shiftTab, "unlink-cancel"],
      [shiftTab, "unlink-confirm"],
      [shiftTab, "unlink-cancel"],
    ];
    for (const [key, part] of steps) {
      await press(key);
      assert.equal(await gtbank.focus(), part);
    }

    await press(Key.ESCAPE);
    await waitFor("the dialog to close", async () => !(await gtbank.dialogOpen()));
    assert.equal(await gtbank.focus(), "unlink-trigger");
    assert.deepEqual(await requests(), []);
    assert.match(await script(`return document.querySelector("#event-log").textContent`), /unlink:cancel/);
    await assertNoPageErrors();
  });

  test("double-click sends one request; the dialog waits; success takes the trigger's place and focus", async () => {
    const driver = await openDemo(["--fake-mono-fault", "*=latency:1500"]);
    const gtbank = widget("gtbank");
    await gtbank.element(".unlink-trigger").click();
    await gtbank.opened();
    await driver.actions().doubleClick(await gtbank.element(".unlink-confirm")).perform();
    await waitFor("the pending state", async () => (await gtbank.state()) === "pending");
    assert.equal(await gtbank.element(".unlink-confirm").getAttribute("aria-disabled"), "true");
    await waitFor("Unlinking…", async () => (await gtbank.text(".unlink-progress")) === "Unlinking…");

    // Escape and Cancel wait for the answer.
    await press(Key.ESCAPE);
    await gtbank.element(".unlink-cancel").click();
    assert.equal(await gtbank.state(), "pending");
    assert.equal(await gtbank.dialogOpen(), true);

    await waitFor("the answer", async () => (await gtbank.state()) === "done");
    assert.equal(await gtbank.text(".unlink-done"), "Bank account unlinked.");
    await waitFor("focus on the sentence", async () => (await gtbank.focus()) === "unlink-done");
    assert.equal(await gtbank.triggerHidden(), true);
    await waitFor("the dialog to close", async () => !(await gtbank.dialogOpen()));
    assert.equal(await gtbank.focus(), "unlink-done");

    const sent = await requests();
    assert.equal(sent.length, 1);
    assert.equal(new URL(sent[0].url, proxy.url).pathname, `/api/mono/accounts/${GTBANK}/unlink`);
    const rows = proxy.audit();
    assert.deepEqual(
      rows.map((r) => [r.kind, r.account_id, r.outcome, r.idempotency_key]),
      [
        ["intent", GTBANK, null, sent[0].key],
        ["unlink", GTBANK, "unlinked", sent[0].key],
      ],
    );
    await assertNoPageErrors();
  });

  test("an error shows in the open dialog, and Unlink account retries with the same key", async () => {
    // Mono fails three times: the proxy's three attempts for the first try all fail.
    await openDemo(["--fake-mono-fault", "*=503x3"]);
    const gtbank = widget("gtbank");
    await gtbank.element(".unlink-trigger").click();
    await gtbank.opened();
    await gtbank.element(".unlink-confirm").click();
    await waitFor("the error", async () => (await gtbank.state()) === "failed");
    assert.equal(await gtbank.text(".unlink-error"), "We couldn’t unlink your account. Try again.");
    assert.equal(await gtbank.dialogOpen(), true);
    assert.equal(await gtbank.focus(), "unlink-confirm");

    await gtbank.element(".unlink-confirm").click();
    await waitFor("the retry's answer", async () => (await gtbank.state()) === "done");
    assert.equal(await gtbank.text(".unlink-done"), "Bank account unlinked.");
    const sent = await requests();
    assert.equal(sent.length, 2);
    assert.equal(sent[1].key, sent[0].key, "the retry reuses the Idempotency-Key");
    assert.deepEqual(
      proxy
        .audit()
        .filter((r) => r.kind === "unlink")
        .map((r) => r.outcome),
      ["upstream_unavailable", "unlinked"],
    );
    await assertNoPageErrors();
  });

  test("Escape twice while pending keeps focus on Unlink account, where the error then finds it", async () => {
    // Mono answers after the proxy's deadline: the request fails after two seconds.
    await openDemo(["--fake-mono-fault", "*=latency:5000", "--deadline", "2s"]);
    const gtbank = widget("gtbank");
    await gtbank.element(".unlink-trigger").click();
    await gtbank.opened();
    await press(Key.TAB);
    assert.equal(await gtbank.focus(), "unlink-confirm");
    await press(Key.ENTER);
    await waitFor("the pending state", async () => (await gtbank.state()) === "pending");
    assert.equal(await gtbank.element(".unlink-cancel").getAttribute("aria-disabled"), "true");

    await press(Key.ESCAPE);
    await press(Key.ESCAPE);
    await waitFor("the dialog, open", gtbank.dialogOpen);
    await waitFor("focus on Unlink account", async () => (await gtbank.focus()) === "unlink-confirm");
    assert.equal(await gtbank.state(), "pending");

    await waitFor("the error", async () => (await gtbank.state()) === "failed");
    assert.notEqual(await gtbank.text(".unlink-error"), "");
    assert.equal(await gtbank.focus(), "unlink-confirm");
    assert.equal(await gtbank.element(".unlink-cancel").getAttribute("aria-disabled"), null);
    // Enter retries, with the same key.
    await press(Key.ENTER);
    await waitFor("the retry", async () => (await requests()).length === 2);
    const sent = await requests();
    assert.equal(sent[1].key, sent[0].key);
    await assertNoPageErrors();
  });

  test("check-status: a reload says an unlinked account is done, asking once per widget, without taking focus", async () => {
    const driver = await openDemo();
    const gtbank = widget("gtbank");
    const statusLookups = async () => {
      const metrics = await (await fetch(`${proxy.url}/metrics`)).text();
      return [...metrics.matchAll(/^unlink_requests_total\{[^}]*route="status"[^}]*\} (\d+)/gm)]
        .reduce((sum, match) => sum + Number(match[1]), 0);
    };
    // The first load: two widgets ask (GTBank and Access; Kuda, not this user's, does not).
    await waitFor("two look-ups", async () => (await statusLookups()) === 2);
    assert.equal(await gtbank.state(), "idle");

    await gtbank.element(".unlink-trigger").click();
    await gtbank.opened();
    await gtbank.element(".unlink-confirm").click();
    await waitFor("the answer", async () => (await gtbank.state()) === "done");

    await driver.navigate().refresh();
    await waitFor("GTBank's look-up", async () => (await gtbank.state()) === "done");
    assert.equal(await gtbank.text(".unlink-done"), "This bank account was already unlinked.");
    assert.equal(await gtbank.triggerHidden(), true);
    assert.equal(await gtbank.focus(), "body", "a page that loads keeps its focus");
    assert.equal(await gtbank.text(".unlink-progress"), "", "nothing is announced: nothing happened");
    await waitFor("two more look-ups", async () => (await statusLookups()) === 4);
    // Access is still linked and Kuda did not ask: both offer the button.
    for (const row of ["access", "kuda"]) {
      assert.equal(await widget(row).state(), "idle", row);
      assert.equal(await widget(row).triggerHidden(), false, row);
    }
    assert.equal(await statusLookups(), 4, "no more requests than widgets that ask");
    assert.equal(
      proxy.audit().filter((r) => r.kind === "unlink").length,
      1,
      "look-ups are not unlinks, and leave no rows",
    );
    await assertNoAxeViolations("already unlinked on load");
    await assertNoPageErrors();
  });

  test("axe finds no violations when closed, open, pending, after an error and after success", async () => {
    await openDemo(["--fake-mono-fault", `${GTBANK}=latency:2500`]);
    const gtbank = widget("gtbank");
    const kuda = widget("kuda");
    await assertNoAxeViolations("closed");

    await gtbank.element(".unlink-trigger").click();
    await gtbank.opened();
    await assertNoAxeViolations("open");
    await gtbank.element(".unlink-confirm").click();
    await waitFor("the pending state", async () => (await gtbank.state()) === "pending");
    await assertNoAxeViolations("pending");
    await waitFor("the answer", async () => (await gtbank.state()) === "done");
    await assertNoAxeViolations("after success");

    // Kuda belongs to another user: the proxy refuses it.
    await kuda.element(".unlink-trigger").click();
    await kuda.opened();
    await kuda.element(".unlink-confirm").click();
    await waitFor("the refusal", async () => (await kuda.state()) === "failed");
    assert.equal(await kuda.text(".unlink-error"), "You aren’t allowed to unlink this account.");
    await assertNoAxeViolations("showing an error");
    await assertNoPageErrors();
  });
});
