// Starts the reference proxy for a browser test: its fake Mono, a fresh audit database, and
// the release bundle (dist/) as static files. Used by the Playwright fixtures and by the
// WebDriver tests, so every engine is tested against the same real server.
import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";

export const PROXY = process.env.UNLINK_PROXY_BIN ?? "target/debug/unlink-proxy";

/**
 * @param {string} db path of the audit database to create
 * @param {string[]} args extra flags, e.g. ["--fake-mono-fault", "*=latency:800"]
 * @param {{ staticDir?: string }} options what to serve besides the API (default: dist/)
 * @returns {Promise<{url: string, audit: () => object[], stop: () => Promise<void>}>}
 */
export async function startProxy(db, args = [], { staticDir = "dist" } = {}) {
  const env = { ...process.env };
  delete env.MONO_SEC_KEY;
  const child = spawn(
    PROXY,
    ["--fake-mono", "--static-dir", staticDir, "--listen", "127.0.0.1:0", "--audit-db", db, ...args],
    { stdio: ["ignore", "pipe", "pipe"], env },
  );
  const url = await new Promise((resolve, reject) => {
    let stderr = "";
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.stdout.on("data", (chunk) => {
      const match = /Demo: (http:\/\/\S+?)\/?\s/.exec(String(chunk));
      if (match) resolve(match[1]);
    });
    child.on("exit", (code) => reject(new Error(`unlink-proxy exited (${code}):\n${stderr}`)));
  });
  return {
    url,
    /** The audit trail as `unlink-proxy audit` prints it, one object per row. */
    audit: () =>
      execFileSync(PROXY, ["audit", "--audit-db", db], { encoding: "utf8" })
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line)),
    async stop() {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        await once(child, "exit");
      }
    },
  };
}
