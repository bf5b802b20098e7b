// Packs the release bundle (dist/, from scripts/build.sh) the two ways partners install it:
//
//   target/package/unlink-widget-<version>.tgz   the npm package (`npm pack`), and a copy
//   target/package/unlink-widget.tgz             under a fixed name for examples/react
//   target/package/cdn/<version>/                the CDN folder: the same files, .br and .gz
//                                                copies, integrity.json and embed.html
//
// The version is the workspace's (Cargo.toml): one number for the crate, the package, the
// CDN folder and the proxy binary. `make package` runs this after the build.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const cargo = readFileSync("Cargo.toml", "utf8");
const field = (name) => cargo.match(new RegExp(`^${name} = "(.*)"$`, "m"))[1];
const version = field("version");
const repository = field("repository");

// What partners get: the module, the wasm, the styles and the types.
const SHIPPED = ["unlink.js", "unlink.wasm", "unlink.css", "unlink.d.ts"];
const COMPRESSED = ["unlink.js", "unlink.wasm", "unlink.css"];

const built = readFileSync("dist/unlink.js", "utf8");
if (!built.includes(`"${version}"`)) {
  throw new Error(`dist/unlink.js does not carry version ${version}: run scripts/build.sh`);
}

const out = "target/package";
rmSync(out, { recursive: true, force: true });

// ---------------------------------------------------------------------------------------
// npm

const staging = join(out, "npm");
mkdirSync(staging, { recursive: true });
for (const name of SHIPPED) copyFileSync(join("dist", name), join(staging, name));
copyFileSync("js/jsx.d.ts", join(staging, "jsx.d.ts"));
copyFileSync("js/README.md", join(staging, "README.md"));
for (const name of ["CHANGELOG.md", "LICENSE-MIT", "LICENSE-APACHE"]) {
  copyFileSync(name, join(staging, name));
}
const manifest = {
  name: "unlink-widget",
  version,
  description:
    "An accessible “Unlink bank account” button and dialog for Mono open banking, in WebAssembly",
  keywords: ["mono", "open-banking", "unlink", "web-component", "webassembly", "accessibility"],
  license: "MIT OR Apache-2.0",
  repository: { type: "git", url: `git+${repository}.git` },
  homepage: `${repository}#readme`,
  type: "module",
  main: "./unlink.js",
  types: "./unlink.d.ts",
  exports: {
    ".": { types: "./unlink.d.ts", default: "./unlink.js" },
    "./unlink.css": "./unlink.css",
    "./unlink.wasm": "./unlink.wasm",
    "./jsx": { types: "./jsx.d.ts" },
    "./package.json": "./package.json",
  },
  files: [...SHIPPED, "jsx.d.ts", "CHANGELOG.md", "LICENSE-MIT", "LICENSE-APACHE"],
  // Importing unlink.js defines <unlink-account>; the CSS styles it. Bundlers must keep both.
  sideEffects: ["./unlink.js", "*.css"],
  // What the widget needs: <dialog>, ES modules, WebAssembly reference types (README).
  browserslist: ["chrome >= 96", "edge >= 96", "firefox >= 98", "safari >= 15.4", "ios_saf >= 15.4"],
};
writeFileSync(join(staging, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
const [packed] = JSON.parse(
  execFileSync("npm", ["pack", "--json", "--pack-destination", ".."], {
    cwd: staging,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  }),
);
copyFileSync(join(out, packed.filename), join(out, "unlink-widget.tgz"));

// ---------------------------------------------------------------------------------------
// CDN folder

const cdn = join(out, "cdn", version);
mkdirSync(cdn, { recursive: true });
const integrity = {};
for (const name of SHIPPED) {
  const bytes = readFileSync(join("dist", name));
  copyFileSync(join("dist", name), join(cdn, name));
  integrity[name] = `sha384-${createHash("sha384").update(bytes).digest("base64")}`;
}
for (const name of COMPRESSED) {
  for (const suffix of [".br", ".gz"]) copyFileSync(join("dist", name + suffix), join(cdn, name + suffix));
}
writeFileSync(join(cdn, "integrity.json"), `${JSON.stringify({ version, files: integrity }, null, 2)}\n`);
writeFileSync(
  join(cdn, "embed.html"),
  `<!doctype html>
<!--
  unlink-widget ${version}: the embed snippet. Copy the three lines in <head> into your page,
  with this folder's address on your CDN in front of each file name, and put the element where
  the button belongs. The integrity attributes pin unlink.js and unlink.css; unlink.js checks
  unlink.wasm itself. This page works as it is when served from this folder beside a proxy
  at /api/mono (the reference proxy: unlink-proxy --static-dir cdn/${version}).
-->
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Unlink bank account · embed snippet</title>
    <link rel="icon" href="data:,">
    <link rel="stylesheet" href="unlink.css" integrity="${integrity["unlink.css"]}" crossorigin="anonymous">
    <link rel="preload" href="unlink.wasm" as="fetch" type="application/wasm" crossorigin="anonymous">
    <script type="module" src="unlink.js" integrity="${integrity["unlink.js"]}" crossorigin="anonymous"></script>
  </head>
  <body>
    <main>
      <h1>Linked accounts</h1>
      <unlink-account account-id="60770aa8c5878a2af69ed849" endpoint="/api/mono" bank="GTBank" mask="1234"></unlink-account>
    </main>
  </body>
</html>
`,
);

console.log(`packed ${join(out, packed.filename)} (${packed.entryCount} files) and ${cdn}/`);
