// What a blind user hears, driving the demo page by keyboard with Orca (Debian's screen
// reader) in ENGINE (chromium or firefox): open, Tab around, Escape; confirm with a refusal;
// with an upstream failure, then a retry; with success. Orca 43's wording is not NVDA's or
// VoiceOver's, so these assert what is said and how often, not punctuation. Each journey's
// transcript is saved under target/screen-reader/ and printed when an assertion fails.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startProxy } from "../support/proxy.mjs";
import { mark, openBrowser, press, reload, saidAfter, startOrca, utterances } from "./orca.mjs";

const ENGINE = process.env.ENGINE ?? "chromium";
const ACCESS = "65c4c03aa66a95b572cb5a86"; // mount() on the demo page: Mono fails it first
const OUT = "target/screen-reader";

const QUESTION = "Unlink bank account?";
const CONSEQUENCE = "will be unlinked. Its data will be deleted";
const PENDING = "Unlinking…";
// Anything the browser itself says: focus has left the page.
const BROWSER_UI = /tool ?bar|Tab search|Firefox View|Close Tab|address and search|New Tab/i;

describe(`what Orca says in ${ENGINE}`, { timeout: 180_000 }, () => {
  const record = mkdtempSync(join(tmpdir(), "unlink-sr-"));
  let proxy;
  let orca;

  before(async () => {
    mkdirSync(OUT, { recursive: true });
    proxy = await startProxy(join(record, "audit.sqlite3"), [
      // Three failures in a row: the proxy's retries give up, the widget shows the error;
      // the user's retry then succeeds.
      "--fake-mono-fault",
      `${ACCESS}=503x3`,
    ]);
    orca = await startOrca();
    await openBrowser(orca, ENGINE, `${proxy.url}/`);
  });

  after(async () => {
    await orca?.stop();
    await proxy?.stop();
    rmSync(record, { recursive: true, force: true });
  });

  /** Runs `steps` (key names) from a freshly loaded page; returns what each step said. */
  async function journey(name, steps) {
    await reload(orca);
    const start = utterances(orca).length;
    mark(orca, `journey ${name}`);
    const said = [];
    for (const step of steps) {
      const [keys, until] = Array.isArray(step) ? step : [step];
      await press(orca, keys, until && { until: (texts) => texts.some((t) => until.test(t)), most: 15_000 });
      said.push({ keys, texts: saidAfter(orca, keys) });
    }
    const transcript = utterances(orca)
      .slice(start)
      .map((u) => (u.mark !== undefined ? `--- ${u.mark}` : `    ${u.text}`))
      .join("\n");
    writeFileSync(`${OUT}/${ENGINE}-${name}.txt`, `${transcript}\n`);
    return { said, transcript };
  }

  /** Runs `check`; a failure carries the journey's transcript. */
  function heard({ transcript }, check) {
    try {
      check();
    } catch (error) {
      error.message += `\n\nWhat Orca said (${ENGINE}):\n${transcript}`;
      throw error;
    }
  }

  const count = (texts, needle) => texts.filter((t) => t.includes(needle)).length;
  const all = (said) => said.flatMap((s) => s.texts);

  /** On open: the question and the consequence once (at most twice), then Cancel. */
  function assertOpening(texts) {
    const question = count(texts, QUESTION);
    const consequence = count(texts, CONSEQUENCE);
    assert.ok(question >= 1 && question <= 2, `the question is said ${question} times on opening`);
    assert.ok(consequence >= 1 && consequence <= 2, `the consequence is said ${consequence} times`);
    assert.match(texts.at(-1), /^Cancel push button/, "and then the focused button");
  }

  test("open, Tab around the dialog, Escape", async () => {
    const run = await journey("open-tab-escape", ["Tab", "Return", "Tab", "Tab", "shift+Tab", "shift+Tab", "Escape"]);
    const [trigger, open, ...rest] = run.said;
    heard(run, () => {
      assert.ok(trigger.texts.includes("Unlink bank account push button."), "the trigger");
      assert.ok(trigger.texts.includes("Your GTBank account ending 1234."), "with its account");
      assertOpening(open.texts);
      // Tab and Shift+Tab go round the two buttons, each named once.
      const buttons = rest.slice(0, 4).map((s) => s.texts.join(" "));
      assert.deepEqual(buttons, [
        "Unlink account push button.",
        "Cancel push button.",
        "Unlink account push button.",
        "Cancel push button.",
      ]);
      const escape = rest.at(-1).texts;
      assert.ok(escape.includes("Unlink bank account push button."), "Escape: back on the trigger");
      assert.ok(escape.includes("Your GTBank account ending 1234."), "with its account");
      assert.equal(all(run.said).filter((t) => BROWSER_UI.test(t)).length, 0, "nothing from the toolbar");
    });
  });

  test("confirm someone else's account: the refusal is heard", async () => {
    const refusal = /You aren.t allowed to unlink this account/;
    const run = await journey("refusal", ["Tab", "Tab", "Tab", "Return", "Tab", ["Return", refusal], "Escape"]);
    heard(run, () => {
      assert.ok(run.said[2].texts.includes("Your Kuda account ending 9012."), "Kuda's trigger");
      assertOpening(run.said[3].texts);
      const confirm = run.said[5].texts;
      assert.equal(confirm.filter((t) => refusal.test(t)).length, 1, "the refusal, once");
      assert.equal(confirm.slice(confirm.findIndex((t) => refusal.test(t))).filter((t) => t === PENDING).length, 0);
      assert.ok(run.said[6].texts.includes("Your Kuda account ending 9012."), "Escape: Kuda's trigger");
      assert.equal(all(run.said).filter((t) => BROWSER_UI.test(t)).length, 0, "nothing from the toolbar");
    });
  });

  test("confirm while Mono fails: the error is heard; the retry's success once, with the account", async () => {
    const failure = /We couldn.t unlink your account\. Try again\./;
    const success = /Bank account unlinked\./;
    const run = await journey("failure-retry", ["Tab", "Tab", "Return", "Tab", ["Return", failure], ["Return", success]]);
    heard(run, () => {
      assert.ok(run.said[1].texts.includes("Your Access Bank account ending 5678."), "Access's trigger");
      assertOpening(run.said[2].texts);
      const failed = run.said[4].texts;
      assert.equal(failed.filter((t) => failure.test(t)).length, 1, "the error, once, in the open dialog");
      assert.equal(failed.slice(failed.findIndex((t) => failure.test(t)) + 1).filter((t) => t === PENDING).length, 0);
      const retried = run.said[5].texts;
      assert.equal(retried.filter((t) => success.test(t)).length, 1, "the success sentence, once");
      assert.ok(retried.some((t) => t.includes("Access Bank account ending 5678")), "naming the account");
      assert.equal(retried.slice(retried.findIndex((t) => success.test(t))).filter((t) => t === PENDING).length, 0);
      assert.equal(all(run.said).filter((t) => BROWSER_UI.test(t)).length, 0, "nothing from the toolbar");
    });
  });

  test("confirm: the success sentence once, with the account", async () => {
    const success = /Bank account unlinked\./;
    const run = await journey("success", ["Tab", "Return", "Tab", ["Return", success]]);
    heard(run, () => {
      assertOpening(run.said[1].texts);
      assert.deepEqual(run.said[2].texts, ["Unlink account push button."]);
      const confirmed = run.said[3].texts;
      assert.equal(confirmed.filter((t) => success.test(t)).length, 1, "the success sentence, once");
      assert.ok(confirmed.includes("Your GTBank account ending 1234."), "naming the account");
      assert.equal(confirmed.slice(confirmed.findIndex((t) => success.test(t))).filter((t) => t === PENDING).length, 0);
      assert.equal(all(run.said).filter((t) => BROWSER_UI.test(t)).length, 0, "nothing from the toolbar");
    });
  });
});
