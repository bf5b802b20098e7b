// The three browser engines, each driven through its own WebDriver server from Debian's or
// crates.io's packages: chromedriver, geckodriver and WebKitGTK's WebKitWebDriver. Each
// server is started here on a loopback port and stopped with the session, and selenium is
// pointed at it with usingServer(), so selenium-manager never runs (it would download).
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import { homedir } from "node:os";
import { join } from "node:path";
import { Builder } from "selenium-webdriver";

const cargoBin = join(process.env.CARGO_HOME ?? join(homedir(), ".cargo"), "bin");

/** How to start each engine: its driver, and the capabilities for a headless session. */
export const ENGINES = {
  chromium: {
    driver: (port) => ["/usr/bin/chromedriver", [`--port=${port}`]],
    capabilities: {
      browserName: "chrome",
      "goog:chromeOptions": {
        binary: "/usr/bin/chromium",
        args: [
          "--headless=new",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-dev-shm-usage",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync",
          "--no-first-run",
          "--window-size=1280,900",
        ],
      },
    },
  },
  firefox: {
    driver: (port) => [
      join(cargoBin, "geckodriver"),
      ["--host", "127.0.0.1", "--port", String(port)],
    ],
    capabilities: {
      browserName: "firefox",
      "moz:firefoxOptions": {
        binary: "/usr/bin/firefox-esr",
        args: ["-headless", "-width", "1280", "-height", "900"],
      },
    },
  },
  // WebKitGTK has no headless mode: run under Xvfb (scripts/test.sh uses xvfb-run).
  webkit: {
    driver: (port) => ["/usr/bin/WebKitWebDriver", [`--port=${port}`]],
    capabilities: {
      browserName: "MiniBrowser",
      "webkitgtk:browserOptions": {
        binary: "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser",
        // `args` replaces the defaults, so --automation must stay.
        args: ["--automation"],
      },
    },
  },
};

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function waitUntilReady(url, driverProcess) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (driverProcess.exitCode !== null) throw new Error(`${url}: the driver exited`);
    try {
      const response = await fetch(`${url}/status`);
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url}: the driver did not start within 30 s`);
}

/**
 * Starts `name`'s driver and a session in it.
 * @returns {Promise<{driver: import("selenium-webdriver").WebDriver, quit: () => Promise<void>}>}
 */
export async function startEngine(name) {
  const engine = ENGINES[name];
  if (!engine) throw new Error(`unknown engine ${name}: use ${Object.keys(ENGINES).join(", ")}`);
  const port = await freePort();
  const [command, args] = engine.driver(port);
  const driverProcess = spawn(command, args, { stdio: ["ignore", "ignore", "pipe"] });
  let driverLog = "";
  driverProcess.stderr.on("data", (chunk) => (driverLog += chunk));
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitUntilReady(url, driverProcess);
    const driver = await new Builder()
      .usingServer(url)
      .withCapabilities(engine.capabilities)
      .build();
    return {
      driver,
      async quit() {
        await driver.quit().catch(() => {});
        driverProcess.kill("SIGTERM");
        if (driverProcess.exitCode === null) await once(driverProcess, "exit");
      },
    };
  } catch (error) {
    driverProcess.kill("SIGKILL");
    error.message += `\n${name} driver log:\n${driverLog}`;
    throw error;
  }
}
