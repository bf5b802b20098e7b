// Removes what the widget ships but never runs: the wasm-streams classes (IntoUnderlyingSink,
// IntoUnderlyingSource, IntoUnderlyingByteSource). Leptos always enables server_fn's
// "browser" feature, which brings wasm-streams, whose #[wasm_bindgen] classes are exports:
// no linker may drop an export, so their code stays in the wasm and their classes in the
// glue, though the widget calls no server function. Measured in docs/size.md.
//
//   node scripts/prune-wasm.mjs dist/unlink.wasm dist/unlink-widget.js
//
// 1. The wasm: binaryen's wasm-metadce keeps every other export as a root and removes those
//    classes' exports with all code only they reach; wasm-opt -Oz then tidies what is left.
// 2. The glue: their `Symbol.dispose` lines and FinalizationRegistry constants are what keep
//    esbuild from dropping the unused classes; without them the bundle leaves them out.
// Exits non-zero if either file still mentions the classes afterwards.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [wasmPath, gluePath] = process.argv.slice(2);
if (!wasmPath || !gluePath) {
  console.error("usage: node scripts/prune-wasm.mjs WASM GLUE_JS");
  process.exit(2);
}
const CLASSES = ["IntoUnderlyingByteSource", "IntoUnderlyingSink", "IntoUnderlyingSource"];
const exportPrefixes = CLASSES.flatMap((name) => {
  const lower = name.toLowerCase();
  return [`${lower}_`, `__wbg_${lower}_`];
});
const pruned = (name) => exportPrefixes.some((prefix) => name.startsWith(prefix));
const FEATURES = [
  "--enable-bulk-memory",
  "--enable-nontrapping-float-to-int",
  "--enable-sign-ext",
  "--enable-mutable-globals",
  "--enable-reference-types",
  "--enable-multivalue",
];

const before = readFileSync(wasmPath);
const module = new WebAssembly.Module(before);
const exports = WebAssembly.Module.exports(module).map((e) => e.name);
const removed = exports.filter(pruned);
const graph = [
  ...exports.map((name) =>
    pruned(name) ? { name: `export:${name}`, export: name } : { name: `export:${name}`, export: name, root: true },
  ),
  ...WebAssembly.Module.imports(module).map(({ module: from, name }) => ({
    name: `import:${from}.${name}`,
    import: [from, name],
  })),
];

const scratch = mkdtempSync(join(tmpdir(), "prune-wasm-"));
try {
  const graphFile = join(scratch, "graph.json");
  const dced = join(scratch, "dce.wasm");
  writeFileSync(graphFile, JSON.stringify(graph));
  const bin = (tool) => join("node_modules", ".bin", tool);
  // metadce prints what it found unreachable; only the result matters here.
  execFileSync(bin("wasm-metadce"), [wasmPath, "--graph-file", graphFile, "-o", dced, ...FEATURES], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  execFileSync(bin("wasm-opt"), ["-Oz", dced, "-o", wasmPath, ...FEATURES], { stdio: "inherit" });
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
const after = readFileSync(wasmPath);
const left = WebAssembly.Module.exports(new WebAssembly.Module(after))
  .map((e) => e.name)
  .filter(pruned);

let glue = readFileSync(gluePath, "utf8");
const sideEffects = (name) => [
  new RegExp(`^if \\(Symbol\\.dispose\\) ${name}\\.prototype\\[Symbol\\.dispose\\] = [^\\n]*\\n`, "m"),
  new RegExp(`^const ${name}Finalization = [^;]*;\\n`, "m"),
];
for (const name of CLASSES) {
  for (const pattern of sideEffects(name)) glue = glue.replace(pattern, "");
}
writeFileSync(gluePath, glue);
const stillKept = CLASSES.filter((name) => sideEffects(name).some((pattern) => pattern.test(glue)));

if (left.length > 0 || stillKept.length > 0) {
  console.error(`prune-wasm: still there: ${[...left, ...stillKept].join(", ")}`);
  process.exit(1);
}
console.log(
  `prune-wasm: removed ${removed.length} unused exports (wasm-streams): ` +
    `${before.length} -> ${after.length} bytes`,
);
