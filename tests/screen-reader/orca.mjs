// A real screen reader, headless: Orca 43 on a virtual X display, listening to a real browser
// through AT-SPI, with every sentence it would speak written to a transcript. Recipe and the
// reasons for each step: ../shared/research/screen-reader.md. Nothing here needs audio or a
// desktop; everything it starts is stopped on exit, including helpers D-Bus starts on its own
// (found by a marker in their environment, since they re-parent to init).
import { execFileSync, spawn } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

const MARKER = "UNLINK_SCREEN_READER_RUN";

/** One Orca session: a display, a session bus, the accessibility bus and Orca itself. */
export async function startOrca() {
  const run = mkdtempSync(join(tmpdir(), "unlink-orca-"));
  const dirs = Object.fromEntries(
    ["home", "runtime", "config", "data", "cache", "orca"].map((name) => [name, join(run, name)]),
  );
  for (const dir of Object.values(dirs)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const transcript = join(run, "speech.log");
  writeFileSync(transcript, "");

  const env = {
    ...Object.fromEntries(
      Object.entries(process.env).filter(
        ([name]) =>
          !["DBUS_SESSION_BUS_ADDRESS", "AT_SPI_BUS_ADDRESS", "WAYLAND_DISPLAY", "MOZ_HEADLESS"].includes(name),
      ),
    ),
    HOME: dirs.home,
    XDG_RUNTIME_DIR: dirs.runtime,
    XDG_CONFIG_HOME: dirs.config,
    XDG_DATA_HOME: dirs.data,
    XDG_CACHE_HOME: dirs.cache,
    LANG: "C.UTF-8",
    GNOME_ACCESSIBILITY: "1",
    NO_AT_BRIDGE: "0",
    GTK_USE_PORTAL: "0",
    // No speech server: Orca still logs every utterance (its own regression tests rely on it).
    SPEECHD_ADDRESS: `unix_socket:${join(run, "no-speech")}`,
    [MARKER]: run,
  };
  const children = [];
  const start = (command, args, options = {}) => {
    const child = spawn(command, args, { env, stdio: ["ignore", "ignore", "pipe"], ...options });
    let stderr = "";
    child.stderr?.on("data", (chunk) => (stderr = (stderr + chunk).slice(-4000)));
    child.stderrTail = () => stderr;
    children.push(child);
    return child;
  };
  const session = { run, transcript, env, children };
  session.stop = () => stopAll(session);

  try {
    env.DISPLAY = `:${await freeDisplay()}`;
    start("Xvfb", [env.DISPLAY, "-screen", "0", "1280x1024x24", "-nolisten", "tcp"]);
    await waitFor("the virtual display", () => succeeds("xdotool", ["getdisplaygeometry"], env));

    const bus = `unix:path=${join(dirs.runtime, "bus")}`;
    start("dbus-daemon", ["--session", "--nofork", "--nopidfile", `--address=${bus}`]);
    env.DBUS_SESSION_BUS_ADDRESS = bus;
    await waitFor("the session bus", () => existsSync(join(dirs.runtime, "bus")));
    start("/usr/libexec/at-spi-bus-launcher", ["--launch-immediately"]);
    await waitFor("the accessibility bus", () =>
      succeeds(
        "dbus-send",
        ["--session", "--print-reply", "--dest=org.a11y.Bus", "/org/a11y/bus",
          "org.freedesktop.DBus.Properties.Set", "string:org.a11y.Status", "string:IsEnabled",
          "variant:boolean:true"],
        env,
      ),
    );

    writeOrcaSettings(dirs.orca, transcript);
    const debug = process.env.ORCA_DEBUG_FILE ? ["--debug-file", process.env.ORCA_DEBUG_FILE] : [];
    const orca = start("orca", ["-u", dirs.orca, ...debug]);
    await waitFor("Orca", () => utterances(session).some((u) => u.text === "Screen reader on."), 20_000, orca);
    return session;
  } catch (error) {
    await session.stop();
    throw error;
  }
}

/** Orca's settings (no key echo, no sounds, no reading whole pages aloud on load) and a
 * customisation that copies every utterance, timestamped, into the transcript. */
function writeOrcaSettings(dir, transcript) {
  execFileSync("/usr/bin/python3", ["-c", `
import json, sys
sys.path.insert(0, "/usr/lib/python3/dist-packages")
import orca.settings as s
general = {key: getattr(s, key) for key in s.userCustomizableSettings if hasattr(s, key)}
general.update(enableKeyEcho=False, enableEchoByCharacter=False, enableEchoByWord=False,
               sayAllOnLoad=False, enableSound=False, firstStart=False)
profiles = {"default": {"profile": s.profile, "pronunciations": {}, "keybindings": {}}}
json.dump({"general": general, "profiles": profiles, "pronunciations": {}, "keybindings": {}},
          open(sys.argv[1], "w"), indent=1)
`, join(dir, "user-settings.conf")]);
  writeFileSync(join(dir, "orca-customizations.py"), `
import logging, time
_speech = logging.getLogger("speech")
if not any(getattr(h, "_unlink_transcript", False) for h in _speech.handlers):
    _handler = logging.FileHandler(${JSON.stringify(transcript)})
    _handler._unlink_transcript = True
    _handler.setFormatter(logging.Formatter("%(created).3f %(message)s"))
    _speech.addHandler(_handler)
`);
}

/** Every utterance so far, and the markers written between key presses. */
export function utterances(session) {
  return readFileSync(session.transcript, "utf8")
    .split("\n")
    .map((line) => /^(\d+\.\d+) (?:SPEECH OUTPUT: '(.*)'(?: voice=\w+)?|MARK (.*))$/.exec(line))
    .filter(Boolean)
    .map(([, time, text, mark]) => (mark === undefined ? { time: Number(time), text } : { time: Number(time), mark }));
}

/** Writes a marker into the transcript: what follows it was said after this step. */
export function mark(session, label) {
  appendFileSync(session.transcript, `${(Date.now() / 1000).toFixed(3)} MARK ${label}\n`);
}

/** Waits until Orca has been quiet for `quiet` ms, at least `least` ms after now and, given
 * `until`, once what was said since the last marker satisfies it; never more than `most`. */
export async function settle(session, { least = 300, quiet = 500, most = 5000, until } = {}) {
  const began = Date.now();
  let size = readFileSync(session.transcript).length;
  let changed = Date.now();
  while (Date.now() - began < most) {
    await sleep(100);
    const now = readFileSync(session.transcript).length;
    if (now !== size) [size, changed] = [now, Date.now()];
    if (Date.now() - began < least || Date.now() - changed < quiet) continue;
    if (!until || until(saidSinceMark(session))) return;
  }
}

/** Presses keys (xdotool names: Tab, shift+Tab, Return, Escape, F5) and waits for Orca. */
export async function press(session, keys, waitOptions) {
  mark(session, keys);
  execFileSync("xdotool", ["key", "--clearmodifiers", keys], { env: session.env });
  await settle(session, waitOptions);
}

function saidSinceMark(session) {
  const all = utterances(session);
  return all.slice(all.findLastIndex((u) => u.mark !== undefined) + 1).map((u) => u.text);
}

/** What was said after the last marker named `label` and before the next marker. */
export function saidAfter(session, label) {
  const all = utterances(session);
  const at = all.findLastIndex((u) => u.mark === label);
  const rest = all.slice(at + 1);
  const end = rest.findIndex((u) => u.mark !== undefined);
  return (end < 0 ? rest : rest.slice(0, end)).map((u) => u.text);
}

/** Starts `engine` (chromium, firefox) at `url`, not headless (headless has no accessibility
 * tree), focuses its window and waits until Orca has finished presenting the page. */
export async function openBrowser(session, engine, url) {
  const profile = join(session.run, `${engine}-profile`);
  mkdirSync(profile, { recursive: true });
  mark(session, "load");
  let child;
  if (engine === "chromium") {
    child = spawn(
      process.env.CHROMIUM ?? "/usr/bin/chromium",
      ["--no-sandbox", "--force-renderer-accessibility", `--user-data-dir=${profile}`, "--no-first-run",
        "--no-default-browser-check", "--disable-gpu", "--disable-dev-shm-usage", "--password-store=basic",
        "--disable-component-update", "--disable-background-networking", "--disable-sync",
        "--window-position=0,0", "--window-size=1280,1000", url],
      { env: session.env, stdio: "ignore" },
    );
  } else {
    writeFileSync(join(profile, "user.js"), [
      ["accessibility.force_disabled", -1],
      ["browser.newtab.preload", false],
      ["browser.startup.page", 0],
      ["browser.shell.checkDefaultBrowser", false],
      ["browser.aboutwelcome.enabled", false],
      ["datareporting.policy.dataSubmissionEnabled", false],
      ["toolkit.telemetry.reportingpolicy.firstRun", false],
      ["app.update.disabledForTesting", true],
      ["browser.tabs.warnOnClose", false],
      ["browser.sessionstore.resume_from_crash", false],
    ].map(([name, value]) => `user_pref(${JSON.stringify(name)}, ${JSON.stringify(value)});\n`).join(""));
    child = spawn("firefox-esr", ["--no-remote", "--profile", profile, "--new-instance", url], {
      env: session.env,
      stdio: "ignore",
    });
  }
  session.children.push(child);
  await waitFor(
    "Orca to finish presenting the page",
    () => utterances(session).some((u) => u.text?.startsWith("Finished loading")),
    30_000,
    child,
  );
  await settle(session, { least: 1000, quiet: 1000, most: 8000 });
  return child;
}

/** Reloads the page and waits until Orca has presented it again. */
export async function reload(session) {
  const before = utterances(session).length;
  await press(session, "F5", { least: 0, quiet: 0, most: 0 });
  await waitFor("the page to load again", () =>
    utterances(session).slice(before).some((u) => u.text?.startsWith("Finished loading")),
  );
  await settle(session, { least: 500, quiet: 800, most: 8000 });
}

async function stopAll(session) {
  for (const child of [...session.children].reverse()) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  }
  await sleep(1000);
  for (const child of session.children) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
  // Helpers that D-Bus started (registryd, portals) re-parented to init: find them by marker.
  for (const pid of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      if (readFileSync(`/proc/${pid}/environ`, "utf8").includes(`${MARKER}=${session.run}`)) {
        process.kill(Number(pid), "SIGKILL");
      }
    } catch {
      // gone already, or not ours to read
    }
  }
  rmSync(session.run, { recursive: true, force: true });
}

async function freeDisplay() {
  for (let n = 90; n < 200; n++) {
    if (!existsSync(`/tmp/.X${n}-lock`) && !existsSync(`/tmp/.X11-unix/X${n}`)) return n;
  }
  throw new Error("no free X display between :90 and :199");
}

function succeeds(command, args, env) {
  try {
    execFileSync(command, args, { env, stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

async function waitFor(what, condition, timeout = 10_000, child) {
  const began = Date.now();
  while (!(await condition())) {
    if (child && child.exitCode !== null) {
      throw new Error(`waiting for ${what}: the process exited (${child.exitCode})\n${child.stderrTail?.() ?? ""}`);
    }
    if (Date.now() - began > timeout) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}
