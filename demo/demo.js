// The demo partner page's own script: one widget mounted from JavaScript, an event log, and
// a record of page errors. (A file, not inline, so the page runs under the strict CSP the
// proxy serves it with.)
import { mount } from "./unlink.js";

// Errors on the page, as a partner's error reporting would collect them. The browser tests
// read this back in every engine (WebKit's WebDriver cannot watch the console).
window.pageErrors = [];
addEventListener("error", (event) => window.pageErrors.push(`error: ${event.message}`));
addEventListener("unhandledrejection", (event) =>
  window.pageErrors.push(`unhandled rejection: ${event.reason}`),
);
const consoleError = console.error.bind(console);
console.error = (...args) => {
  window.pageErrors.push(`console.error: ${args.map(String).join(" ")}`);
  consoleError(...args);
};

// The signed-in user's session, as a partner's login would set it (HttpOnly in a real app).
// A proxy refuses unlinks that carry no credentials at all before asking the authoriser; the
// demo's authoriser (the fake Mono's) accepts any session as "demo-user".
document.cookie = "session=demo-user; path=/; SameSite=Strict";

window.accessWidget = mount(document.getElementById("access-unlink"), {
  accountId: "65c4c03aa66a95b572cb5a86",
  endpoint: "/api/mono",
  bank: "Access Bank",
  mask: "5678",
  checkStatus: true,
});

// What a partner would do with the events: log them, and update its own UI.
const log = document.getElementById("event-log");
for (const type of ["unlink:open", "unlink:cancel", "unlink:confirm", "unlink:success", "unlink:error"]) {
  document.addEventListener(type, (event) => {
    const item = document.createElement("li");
    item.textContent = `${type} ${JSON.stringify(event.detail)}`;
    log.append(item);
    if (type === "unlink:success") event.target.closest(".account")?.setAttribute("data-unlinked", "");
  });
}
