// Size report for the release bundle: raw, gzip and brotli bytes of every file in dist/,
// and a budget for what every end user downloads (wasm + JS + CSS, gzip).
//
//   node scripts/size.mjs dist            # report, exit 1 if over budget
//   node scripts/size.mjs dist --markdown # the same as a README table
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

const BUDGET_GZIP = 52 * 1024;
// What a partner's page loads: the module (loader and wasm-bindgen glue), the wasm, the CSS.
const SHIPPED = ["unlink.js", "unlink.wasm", "unlink.css"];

const dir = process.argv[2] ?? "dist";
const markdown = process.argv.includes("--markdown");

const sizes = readdirSync(dir)
  // The precompressed copies are the same bytes, compressed; the report computes both.
  .filter((name) => statSync(join(dir, name)).isFile() && !/\.(br|gz)$/.test(name))
  .sort()
  .map((name) => {
    const bytes = readFileSync(join(dir, name));
    return {
      name,
      raw: bytes.length,
      gzip: gzipSync(bytes, { level: 9 }).length,
      brotli: brotliCompressSync(bytes, {
        params: { [constants.BROTLI_PARAM_QUALITY]: 11 },
      }).length,
      shipped: SHIPPED.includes(name),
    };
  });

const missing = SHIPPED.filter((name) => !sizes.some((s) => s.name === name));
if (missing.length > 0) {
  console.error(`size: ${dir}/ is missing ${missing.join(", ")}; run make build first`);
  process.exit(1);
}

const total = { name: "shipped total", raw: 0, gzip: 0, brotli: 0 };
for (const s of sizes.filter((s) => s.shipped)) {
  total.raw += s.raw;
  total.gzip += s.gzip;
  total.brotli += s.brotli;
}

const kb = (n) => (n / 1024).toFixed(1);
if (markdown) {
  console.log("| file | raw KB | gzip KB | brotli KB |\n| --- | ---: | ---: | ---: |");
  for (const s of [...sizes.filter((s) => s.shipped), total]) {
    console.log(`| ${s.name} | ${kb(s.raw)} | ${kb(s.gzip)} | ${kb(s.brotli)} |`);
  }
} else {
  console.log("file                        raw      gzip    brotli");
  for (const s of [...sizes, total]) {
    const mark = s.shipped ? "*" : " ";
    console.log(
      `${mark} ${s.name.padEnd(24)} ${String(s.raw).padStart(8)} ${String(s.gzip).padStart(8)} ${String(s.brotli).padStart(8)}`,
    );
  }
  console.log("(* shipped to every end user)");
}

const verdict = `${kb(total.gzip)} KB gzip of ${kb(BUDGET_GZIP)} KB budget`;
if (total.gzip > BUDGET_GZIP) {
  console.error(`size: OVER BUDGET: ${verdict}`);
  process.exit(1);
}
console.log(`size: ok, ${verdict}`);
