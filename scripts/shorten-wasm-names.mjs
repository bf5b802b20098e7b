// Gives the wasm's imports and exports one- or two-letter names, in the wasm and in its glue.
// wasm-bindgen names them after their Rust paths and hashes (`__wbg_setattribute_…` with 16
// hex digits, closure shims of 200 characters), and every name is written twice, in the
// wasm's tables and in the glue that fills or calls them: random hex compresses badly, so
// shipping those names cost every end user about a kilobyte gzip (docs/size.md).
// binaryen's --minify-imports-and-exports only renames Emscripten's "env" imports.
//
//   node scripts/shorten-wasm-names.mjs dist/unlink.wasm dist/unlink-widget.js
//
// Run after prune-wasm.mjs and before esbuild. Exits non-zero, changing nothing, if a name
// is not found in the glue exactly where expected (a new wasm-bindgen writing it otherwise).
import { readFileSync, writeFileSync } from "node:fs";

const [wasmPath, gluePath] = process.argv.slice(2);
if (!wasmPath || !gluePath) {
  console.error("usage: node scripts/shorten-wasm-names.mjs WASM GLUE_JS");
  process.exit(2);
}
// Exports the glue reaches by these names from outside the module, or that wasm-bindgen's
// glue reads through `instance.exports` by a computed name: kept as they are.
const KEEP = new Set(["memory", "__wbindgen_start"]);

const wasm = readFileSync(wasmPath);
let glue = readFileSync(gluePath, "utf8");

/** a, b, …, z, A, …, Z, aa, ab, …: never a JavaScript keyword, never a wasm-bindgen name. */
function* shortNames() {
  const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  for (const a of letters) yield a;
  for (const a of letters) for (const b of letters) yield a + b;
}

// --- reading and writing the binary ---------------------------------------------------------
function readU32(bytes, at) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = bytes[at++];
    value |= (byte & 0x7f) << shift;
    if (!(byte & 0x80)) return [value >>> 0, at];
    shift += 7;
  }
}
function u32(value) {
  const out = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value) byte |= 0x80;
    out.push(byte);
  } while (value);
  return out;
}
function readName(bytes, at) {
  const [length, start] = readU32(bytes, at);
  return [Buffer.from(bytes.subarray(start, start + length)).toString("utf8"), start + length];
}
const name = (text) => [...u32(Buffer.byteLength(text)), ...Buffer.from(text, "utf8")];

/** Skips an import's description (function, table, memory or global). */
function skipImportDesc(bytes, at) {
  const kind = bytes[at++];
  const limits = (p) => {
    const flags = bytes[p++];
    [, p] = readU32(bytes, p);
    if (flags & 1) [, p] = readU32(bytes, p);
    return p;
  };
  if (kind === 0) return readU32(bytes, at)[1]; // function: type index
  if (kind === 1) return limits(at + 1); // table: reference type, limits
  if (kind === 2) return limits(at); // memory: limits
  if (kind === 3) return at + 2; // global: value type, mutability
  throw new Error(`unknown import kind ${kind}`);
}

const renamed = { imports: new Map(), exports: new Map() };
const names = shortNames();
const sections = [];
let at = 8;
while (at < wasm.length) {
  const id = wasm[at];
  const [size, start] = readU32(wasm, at + 1);
  const end = start + size;
  const body = wasm.subarray(start, end);
  if (id === 2 || id === 7) {
    const [count, first] = readU32(body, 0);
    const out = [...u32(count)];
    let p = first;
    for (let i = 0; i < count; i++) {
      if (id === 2) {
        let module, field;
        [module, p] = readName(body, p);
        [field, p] = readName(body, p);
        const descStart = p;
        p = skipImportDesc(body, p);
        const short = names.next().value;
        renamed.imports.set(field, short);
        out.push(...name(module), ...name(short), ...body.subarray(descStart, p));
      } else {
        let field;
        [field, p] = readName(body, p);
        const kind = body[p];
        const [, next] = readU32(body, p + 1);
        const short = KEEP.has(field) ? field : names.next().value;
        if (short !== field) renamed.exports.set(field, short);
        out.push(...name(short), kind, ...body.subarray(p + 1, next));
        p = next;
      }
    }
    sections.push(Buffer.from([id, ...u32(out.length), ...out]));
  } else {
    sections.push(wasm.subarray(at, end));
  }
  at = end;
}

// --- the glue -------------------------------------------------------------------------------
// Imports are the keys of the object wasm-bindgen hands to instantiate (`name: function`);
// exports are read as `wasm.name`. Each must be found, or the glue and wasm would disagree.
const missing = [];
const replaceAll = (pattern, replacement, what) => {
  const before = glue;
  glue = glue.replace(pattern, replacement);
  if (glue === before) missing.push(what);
};
const escape = (text) => text.replace(/[$]/g, "\\$&");
// Left after renaming: a property access or a string naming it (a local function of the same
// name is fine: esbuild renames those).
const readByName = (field) => new RegExp(`\\.${escape(field)}\\b|["'\`]${escape(field)}["'\`]`).test(glue);
for (const [field, short] of renamed.imports) {
  replaceAll(new RegExp(`(?<=[\\s,{])${escape(field)}(?=: ?function\\b|\\()`, "g"), short, `import ${field}`);
  if (readByName(field)) missing.push(`import ${field} (also read by name)`);
}
for (const [field, short] of renamed.exports) {
  // Some exports (wasm-bindgen's abort hooks, a split marker, `free`) the glue never calls.
  if (!glue.includes(field)) continue;
  replaceAll(new RegExp(`(?<=\\bwasm\\.)${escape(field)}\\b`, "g"), short, `export ${field}`);
  if (readByName(field)) missing.push(`export ${field} (also read by name)`);
}
if (missing.length > 0) {
  console.error(`shorten-wasm-names: not found in ${gluePath}:\n  ${missing.join("\n  ")}`);
  process.exit(1);
}
const shortened = Buffer.concat([wasm.subarray(0, 8), ...sections]);
new WebAssembly.Module(shortened); // still a valid module
writeFileSync(wasmPath, shortened);
writeFileSync(gluePath, glue);
console.log(
  `shorten-wasm-names: ${renamed.imports.size} imports and ${renamed.exports.size} exports renamed: ` +
    `${wasm.length} -> ${shortened.length} bytes`,
);
