// The demo partner page's own script: one widget mounted from JavaScript, and an event log.
// (A file, not inline, so the page runs under the strict CSP the proxy serves it with.)
import { mount } from "./unlink.js";

window.accessWidget = mount(document.getElementById("access-unlink"), {
  accountId: "65c4c03aa66a95b572cb5a86",
  endpoint: "/api/mono",
  bank: "Access Bank",
  mask: "5678",
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
