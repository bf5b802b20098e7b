// Browser tests against the release bundle (dist/) served by the real proxy with its fake
// Mono. Each test in the "chromium" project starts its own proxy (tests/e2e/fixtures.ts), so
// tests never share state. The "replicas" project runs against the reference set-up
// (scripts/replicas.sh: nginx, two replicas, PostgreSQL) at UNLINK_REPLICAS_URL.
// Debian's Chromium is used: `playwright install` would download a browser, which CI cannot.
import { defineConfig } from "@playwright/test";

const chromium = {
  browserName: "chromium" as const,
  launchOptions: {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  },
};

export default defineConfig({
  testDir: "tests/e2e",
  outputDir: "target/playwright",
  fullyParallel: true,
  workers: 2,
  retries: 0,
  forbidOnly: true,
  reporter: [["list"]],
  timeout: 30_000,
  use: { ...chromium, trace: "retain-on-failure" },
  projects: [
    { name: "chromium", testIgnore: /replicas\.spec\.ts/ },
    // The packed artefacts (`make package`, run by scripts/test.sh first): the npm tarball
    // inside examples/react, and the CDN folder's embed.html.
    { name: "react", testDir: "tests/react" },
    { name: "package", testDir: "tests/package", testMatch: /\.spec\.ts$/ },
    {
      name: "replicas",
      testMatch: /replicas\.spec\.ts/,
      use: { baseURL: process.env.UNLINK_REPLICAS_URL },
    },
  ],
});
