// Writes brotli (.br, quality 11) and gzip (.gz, level 9) copies beside each named file, so a
// server (the reference proxy's --static-dir, a CDN, nginx's gzip_static) sends compressed
// bytes without compressing on every request.
//
//   node scripts/precompress.mjs DIR FILE...
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

const [dir, ...files] = process.argv.slice(2);
for (const name of files) {
  const bytes = readFileSync(join(dir, name));
  writeFileSync(join(dir, `${name}.gz`), gzipSync(bytes, { level: 9 }));
  const brotli = { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length };
  writeFileSync(join(dir, `${name}.br`), brotliCompressSync(bytes, { params: brotli }));
}
