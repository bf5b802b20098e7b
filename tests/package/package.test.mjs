// The packed artefacts, checked as a partner receives them (after `make package`): the npm
// tarball's files and manifest, one version everywhere, the CDN folder's hashes and
// precompressed copies, and the React example's lock file pointing at the fresh tarball.
//
//   node --test tests/package/
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { pathToFileURL } from "node:url";
import { brotliDecompressSync, gunzipSync } from "node:zlib";

const VERSION = readFileSync("Cargo.toml", "utf8").match(/^version = "(.*)"$/m)[1];
const PACKAGE = "target/package";
const CDN = join(PACKAGE, "cdn", VERSION);
const PROXY = process.env.UNLINK_PROXY_BIN ?? "target/debug/unlink-proxy";
const sha384 = (bytes) => `sha384-${createHash("sha384").update(bytes).digest("base64")}`;

let unpacked;
before(() => {
  unpacked = mkdtempSync(join(tmpdir(), "unlink-package-"));
  execFileSync("tar", ["-xzf", join(PACKAGE, `unlink-widget-${VERSION}.tgz`), "-C", unpacked]);
  unpacked = join(unpacked, "package");
});
after(() => rmSync(join(unpacked, ".."), { recursive: true, force: true }));

test("the tarball holds the widget, its types, docs and licences, and nothing else", () => {
  assert.deepEqual(readdirSync(unpacked).sort(), [
    "CHANGELOG.md",
    "LICENSE-APACHE",
    "LICENSE-MIT",
    "README.md",
    "jsx.d.ts",
    "package.json",
    "unlink.css",
    "unlink.d.ts",
    "unlink.js",
    "unlink.wasm",
  ]);
  for (const name of ["unlink.js", "unlink.wasm", "unlink.css", "unlink.d.ts"]) {
    assert.deepEqual(readFileSync(join(unpacked, name)), readFileSync(join("dist", name)), name);
  }
});

test("the manifest: an ES module package whose exports all exist", () => {
  const manifest = JSON.parse(readFileSync(join(unpacked, "package.json"), "utf8"));
  assert.equal(manifest.name, "unlink-widget");
  assert.equal(manifest.version, VERSION);
  assert.equal(manifest.type, "module");
  assert.equal(manifest.license, "MIT OR Apache-2.0");
  assert.match(manifest.repository.url, /^git\+https:\/\/github\.com\//);
  assert.deepEqual(manifest.exports["."], { types: "./unlink.d.ts", default: "./unlink.js" });
  const targets = Object.values(manifest.exports).flatMap((target) =>
    typeof target === "string" ? [target] : Object.values(target),
  );
  for (const target of targets) {
    assert.ok(readdirSync(unpacked).includes(target.slice(2)), `${target} is in the tarball`);
  }
  assert.deepEqual(manifest.sideEffects, ["./unlink.js", "*.css"]);
  assert.ok(manifest.browserslist.includes("safari >= 15.4"));
});

test("one version: crate, package, unlink.js, the proxy binary and the changelog", async () => {
  // unlink.js is a browser module: give it just enough of a page to load, and a fetch
  // that never answers (nothing here may start the wasm).
  globalThis.HTMLElement = class {};
  globalThis.customElements = { get: () => undefined, define: () => {} };
  globalThis.fetch = () => new Promise(() => {});
  const module = await import(pathToFileURL(join(unpacked, "unlink.js")));
  assert.equal(module.version, VERSION);
  assert.equal(typeof module.mount, "function");

  const proxy = execFileSync(PROXY, ["--version"], { encoding: "utf8" }).trim();
  assert.equal(proxy, `unlink-proxy ${VERSION}`);
  const changelog = readFileSync("CHANGELOG.md", "utf8");
  assert.match(changelog, new RegExp(`^## \\[${VERSION.replaceAll(".", "\\.")}\\] - \\d{4}-\\d{2}-\\d{2}$`, "m"));
});

test("the CDN folder: hashes that match, and precompressed copies of the same bytes", () => {
  const { version, files } = JSON.parse(readFileSync(join(CDN, "integrity.json"), "utf8"));
  assert.equal(version, VERSION);
  assert.deepEqual(Object.keys(files), ["unlink.js", "unlink.wasm", "unlink.css", "unlink.d.ts"]);
  for (const [name, hash] of Object.entries(files)) {
    assert.equal(sha384(readFileSync(join(CDN, name))), hash, name);
  }
  for (const name of ["unlink.js", "unlink.wasm", "unlink.css"]) {
    const bytes = readFileSync(join(CDN, name));
    assert.deepEqual(brotliDecompressSync(readFileSync(join(CDN, `${name}.br`))), bytes, `${name}.br`);
    assert.deepEqual(gunzipSync(readFileSync(join(CDN, `${name}.gz`))), bytes, `${name}.gz`);
  }
  // unlink.js carries the wasm's hash, so pinning unlink.js pins the wasm too.
  assert.ok(readFileSync(join(CDN, "unlink.js"), "utf8").includes(files["unlink.wasm"]));

  const embed = readFileSync(join(CDN, "embed.html"), "utf8");
  for (const pinned of [
    `src="unlink.js" integrity="${files["unlink.js"]}" crossorigin="anonymous"`,
    `href="unlink.css" integrity="${files["unlink.css"]}" crossorigin="anonymous"`,
  ]) {
    assert.ok(embed.includes(pinned), `embed.html has ${pinned}`);
  }
});

test("the React example installs the tarball just packed, not a cached copy", () => {
  const lock = JSON.parse(readFileSync("examples/react/package-lock.json", "utf8"));
  const entry = lock.packages["node_modules/unlink-widget"];
  assert.equal(entry.resolved, "file:../../target/package/unlink-widget.tgz");
  // An integrity here would pin one build's tarball and make `npm ci` refuse the next one.
  assert.equal(entry.integrity, undefined);
  assert.deepEqual(
    readFileSync(join(PACKAGE, "unlink-widget.tgz")),
    readFileSync(join(PACKAGE, `unlink-widget-${VERSION}.tgz`)),
  );
});
