// Widget benchmark (not a test): how soon the widget is ready on a page, next to a
// hand-written plain-JS widget with the same markup and behaviour (bench/plain/), and
// whether 1,000 mount()/unmount() cycles leak.
//
//   node scripts/bench.mjs [--runs N] [--json]     # after scripts/build.sh; `make bench`
//   node scripts/bench.mjs --serve                 # only serve the pages, to look at by hand
//   node scripts/bench.mjs --dist DIR --kinds "widget without preload,plain JS"  # another build
//
// "Ready" is the moment every trigger button the page asked for is in the document
// (performance.now() from navigation start), read by a MutationObserver the page loads
// before anything else. After each run the first trigger is clicked and must open its
// dialog, so what is counted is a working widget. Each run is a cold browser context;
// the kinds alternate run by run so drift hits them equally. Headless Chromium, two
// profiles: desktop (loopback, no throttling) and mobile (Chrome DevTools Protocol: 150 ms
// latency, 1.6 Mbit/s down, 750 kbit/s up, CPU 4x slower). Files are served compressed as
// a CDN would (the precompressed .br/.gz beside them in dist/, or gzip -9 on the fly).
import { chromium } from "@playwright/test";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { extname, join, normalize } from "node:path";
import { gzipSync } from "node:zlib";

const args = process.argv.slice(2);
const json = args.includes("--json");
const option = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const DIST = option("--dist") ?? "dist";
const RUNS = option("--runs") && Number(option("--runs"));
const LEAK_CYCLES = 1000;

const PROFILES = {
  desktop: { runs: 15 },
  mobile: {
    runs: 7,
    network: { offline: false, latency: 150, downloadThroughput: 1.6e6 / 8, uploadThroughput: 750e3 / 8 },
    cpu: 4,
  },
};
const SCENARIOS = [
  ["desktop", 1],
  ["desktop", 50],
  ["mobile", 1],
  ["mobile", 50],
];
// The widget as the README's embed snippet loads it (stylesheet, a preload of the wasm so it
// downloads while the module does, the module), the same without the preload, and the
// plain-JS floor, each loaded the way that is fastest for it.
const PRELOAD = '<link rel="preload" href="/w/unlink.wasm" as="fetch" type="application/wasm" crossorigin>';
const KINDS = {
  widget: { css: "/w/unlink.css", js: "/w/unlink.js", hints: [PRELOAD] },
  "widget without preload": { css: "/w/unlink.css", js: "/w/unlink.js", hints: [] },
  "plain JS": { css: "/w/unlink.css", js: "/p/unlink-plain.js", hints: [] },
};

// ---------------------------------------------------------------------------------------
// The server: dist/ under /w/, the plain widget under /p/, generated pages.

const TYPES = { ".js": "text/javascript", ".css": "text/css", ".wasm": "application/wasm", ".html": "text/html" };
const compressed = new Map();

function file(root, path) {
  const full = normalize(join(root, path));
  return full.startsWith(normalize(root)) && existsSync(full) ? full : null;
}

/** The bytes to send for `full` and their encoding, preferring precompressed files. */
function encoded(full, acceptEncoding) {
  for (const [token, suffix] of [["br", ".br"], ["gzip", ".gz"]]) {
    if (acceptEncoding.includes(token) && existsSync(full + suffix)) {
      return { body: readFileSync(full + suffix), encoding: token };
    }
  }
  if (!acceptEncoding.includes("gzip")) return { body: readFileSync(full), encoding: null };
  if (!compressed.has(full)) compressed.set(full, gzipSync(readFileSync(full), { level: 9 }));
  return { body: compressed.get(full), encoding: "gzip" };
}

const slug = (kind) => kind.toLowerCase().replaceAll(/[^a-z]+/g, "-");

function page(kind, n) {
  const { css, js, hints } = KINDS[kind];
  const rows = Array.from(
    { length: n },
    (_, i) =>
      `<li><h2>Account ${i + 1}</h2><unlink-account account-id="acct${String(i).padStart(8, "0")}" endpoint="/api" bank="GTBank" mask="${1000 + i}"></unlink-account></li>`,
  ).join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>bench</title><link rel="icon" href="data:,">
<script src="/ready.js" data-n="${n}"></script>
<link rel="stylesheet" href="${css}">
${hints.join("\n")}
<script type="module" src="${js}"></script>
</head><body><main><h1>Linked accounts</h1><ul>${rows}</ul></main></body></html>`;
}

// Loaded first, synchronously: records when the n-th trigger appears.
const READY_JS = `(() => {
  const n = Number(document.currentScript.dataset.n);
  const check = () => {
    if (window.benchReady === undefined && document.querySelectorAll(".unlink-trigger").length >= n) {
      window.benchReady = performance.now();
      observer.disconnect();
    }
  };
  const observer = new MutationObserver(check);
  observer.observe(document, { childList: true, subtree: true });
})();`;

// The leak page keeps the wasm instance's memory where the benchmark can read it.
const LEAK_HTML = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>leak</title><link rel="icon" href="data:,">
<script>
  for (const name of ["instantiate", "instantiateStreaming"]) {
    const original = WebAssembly[name];
    WebAssembly[name] = async (...args) => {
      const result = await original.apply(WebAssembly, args);
      window.wasmMemory = (result.instance ?? result).exports.memory;
      return result;
    };
  }
</script>
<script type="module">
  import { mount, ready } from "/w/unlink.js";
  window.cycle = async (count) => {
    const host = document.getElementById("host");
    for (let i = 0; i < count; i++) {
      const handle = mount(host, { accountId: "acct" + i, endpoint: "/api", bank: "GTBank", mask: "1234" });
      await handle.mounted;
      handle.unmount();
    }
    return host.childElementCount;
  };
  ready.then(() => (window.leakReady = true));
</script></head><body><div id="host"></div></body></html>`;

const server = createServer((request, response) => {
  const url = new URL(request.url, "http://localhost");
  const send = (status, body, type, encoding) => {
    response.writeHead(status, {
      "content-type": type,
      "cache-control": "no-cache",
      ...(encoding ? { "content-encoding": encoding, vary: "accept-encoding" } : {}),
    });
    response.end(body);
  };
  const pageMatch = url.pathname.match(/^\/page\/([a-z-]+)\/(\d+)$/);
  if (pageMatch) {
    const kind = Object.keys(KINDS).find((k) => slug(k) === pageMatch[1]);
    return kind ? send(200, page(kind, Number(pageMatch[2])), "text/html") : send(404, "", "text/plain");
  }
  if (url.pathname === "/ready.js") return send(200, READY_JS, "text/javascript");
  if (url.pathname === "/leak") return send(200, LEAK_HTML, "text/html");
  const [root, rest] = url.pathname.startsWith("/w/")
    ? [DIST, url.pathname.slice(3)]
    : url.pathname.startsWith("/p/")
      ? ["bench/plain", url.pathname.slice(3)]
      : [null, null];
  const full = root && file(root, rest);
  if (!full) return send(404, "not found", "text/plain");
  const { body, encoding } = encoded(full, request.headers["accept-encoding"] ?? "");
  send(200, body, TYPES[extname(full)] ?? "application/octet-stream", encoding);
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${server.address().port}`;
if (args.includes("--serve")) {
  console.log(`Serving ${origin}/page/{widget,widget-no-preload,plain-js}/{1,50} and ${origin}/leak; Ctrl-C stops.`);
  await new Promise(() => {});
}

// ---------------------------------------------------------------------------------------
// Runs.

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
});

async function run(profile, kind, n) {
  const context = await browser.newContext({ viewport: profile === "mobile" ? { width: 390, height: 844 } : { width: 1280, height: 800 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("console", (message) => message.type() === "error" && errors.push(message.text()));
  const { network, cpu } = PROFILES[profile];
  if (network) {
    const cdp = await context.newCDPSession(page);
    await cdp.send("Network.enable");
    await cdp.send("Network.emulateNetworkConditions", network);
    await cdp.send("Emulation.setCPUThrottlingRate", { rate: cpu });
  }
  await page.goto(`${origin}/page/${slug(kind)}/${n}`, { waitUntil: "commit" });
  await page.waitForFunction(() => window.benchReady !== undefined, null, { timeout: 60_000 });
  const ready = await page.evaluate(() => window.benchReady);
  // The trigger counted must be a working one.
  await page.locator(".unlink-trigger").first().click();
  await page.locator("dialog[open]").waitFor({ timeout: 30_000 });
  await context.close();
  if (errors.length) throw new Error(`${kind} (${profile}, ${n}): ${errors.join("; ")}`);
  return ready;
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

const results = [];
for (const [profile, n] of SCENARIOS) {
  const runs = RUNS ?? PROFILES[profile].runs;
  const times = Object.fromEntries(Object.keys(KINDS).map((kind) => [kind, []]));
  const kinds = option("--kinds")?.split(",") ?? Object.keys(KINDS);
  for (let i = 0; i < runs; i++) {
    const order = i % 2 ? [...kinds].reverse() : kinds;
    for (const kind of order) times[kind].push(await run(profile, kind, n));
    if (!json) process.stderr.write(".");
  }
  const medians = Object.fromEntries(kinds.map((kind) => [kind, Math.round(median(times[kind]))]));
  results.push({ profile, widgets: n, runs, medians, times });
}

// Leak check: heap and wasm memory after 10 cycles, then after 1,000.
async function leakCheck() {
  const context = await browser.newContext();
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await page.goto(`${origin}/leak`);
  await page.waitForFunction(() => window.leakReady === true);
  const measure = async () => {
    await cdp.send("HeapProfiler.collectGarbage");
    await cdp.send("HeapProfiler.collectGarbage");
    const { usedSize } = await cdp.send("Runtime.getHeapUsage");
    const { nodes, jsEventListeners } = await cdp.send("Memory.getDOMCounters");
    const wasm = await page.evaluate(() => window.wasmMemory.buffer.byteLength);
    return { jsHeap: usedSize, wasmMemory: wasm, domNodes: nodes, listeners: jsEventListeners };
  };
  const left10 = await page.evaluate((n) => window.cycle(n), 10);
  const after10 = await measure();
  const leftAll = await page.evaluate((n) => window.cycle(n), LEAK_CYCLES - 10);
  const afterAll = await measure();
  await context.close();
  const growth = (key) => afterAll[key] / after10[key] - 1;
  return {
    cycles: LEAK_CYCLES,
    after10,
    afterAll,
    jsHeapGrowth: growth("jsHeap"),
    wasmMemoryGrowth: growth("wasmMemory"),
    elementsLeftInHost: Math.max(left10, leftAll),
  };
}
const leak = await leakCheck();
await browser.close();
server.close();

// ---------------------------------------------------------------------------------------
// Report.

const sizes = ["unlink.js", "unlink.wasm", "unlink.css"].map((name) => {
  const bytes = existsSync(join("dist", name)) ? readFileSync(join("dist", name)) : Buffer.alloc(0);
  return gzipSync(bytes, { level: 9 }).length;
});
if (json) {
  console.log(JSON.stringify({ results, leak, shippedGzip: sizes.reduce((a, b) => a + b, 0) }, null, 2));
} else {
  const ratio = (a, b) => (a / b).toFixed(2);
  console.log("\n\n| page | widget | widget without preload | plain JS | ratio | ratio without preload |");
  console.log("| --- | ---: | ---: | ---: | ---: | ---: |");
  for (const { profile, widgets, medians } of results) {
    const plain = medians["plain JS"];
    console.log(
      `| ${widgets} widget${widgets > 1 ? "s" : ""}, ${profile} | ${medians.widget} ms | ${medians["widget without preload"]} ms | ${plain} ms | ${ratio(medians.widget, plain)} | ${ratio(medians["widget without preload"], plain)} |`,
    );
  }
  const pct = (x) => `${(x * 100).toFixed(1)} %`;
  const mb = (x) => `${(x / 1048576).toFixed(2)} MB`;
  console.log(
    `\nLeak check, ${leak.cycles} mount()/unmount() cycles: JS heap ${mb(leak.after10.jsHeap)} after 10, ` +
      `${mb(leak.afterAll.jsHeap)} after ${leak.cycles} (${pct(leak.jsHeapGrowth)}); wasm memory ` +
      `${mb(leak.after10.wasmMemory)} → ${mb(leak.afterAll.wasmMemory)} (${pct(leak.wasmMemoryGrowth)}); ` +
      `DOM nodes ${leak.after10.domNodes} → ${leak.afterAll.domNodes}, listeners ${leak.after10.listeners} → ${leak.afterAll.listeners}.`,
  );
}
const leaked = leak.jsHeapGrowth > 0.1 || leak.wasmMemoryGrowth > 0.1 || leak.elementsLeftInHost > 0;
if (leaked) {
  console.error("bench: mount()/unmount() leaks (more than 10 % growth, or elements left behind)");
  process.exit(1);
}
