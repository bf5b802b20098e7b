// The benchmark's floor: the widget written by hand in plain JavaScript, no framework, no
// WebAssembly. Same markup (so the same unlink.css styles it), same roles, names, focus
// moves, request and events as the real widget, in English only and with light option
// checks. It is what `scripts/bench.mjs` compares the shipped widget against; it is not
// shipped to anyone.

let next = 0;

const el = (tag, props = {}, children = []) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
};

const MESSAGES = {
  401: "You aren’t allowed to unlink this account.",
  403: "You aren’t allowed to unlink this account.",
  404: "This account wasn’t found, so nothing was unlinked.",
  429: "Too many attempts. Wait a moment, then try again.",
};

export function mount(host, options) {
  const n = ++next;
  const account = `Your ${options.bank} account ending ${options.mask}`;
  const trigger = el("button", { type: "button", class: "unlink-trigger", "aria-describedby": `unlink-${n}-account` }, ["Unlink bank account"]);
  const done = el("p", { class: "unlink-done", tabindex: "-1", "aria-describedby": `unlink-${n}-account` });
  const live = el("p", { class: "unlink-status", role: "status" });
  const error = el("p", { class: "unlink-error", role: "alert" });
  const progress = el("p", { class: "unlink-progress", role: "status" });
  const cancel = el("button", { type: "button", class: "unlink-button unlink-cancel", autofocus: "" }, ["Cancel"]);
  const confirm = el("button", { type: "button", class: "unlink-button unlink-confirm" }, ["Unlink account"]);
  const dialog = el(
    "dialog",
    { class: "unlink-dialog", role: "alertdialog", tabindex: "-1", "aria-labelledby": `unlink-${n}-title`, "aria-describedby": `unlink-${n}-description` },
    [
      el("h2", { class: "unlink-title", id: `unlink-${n}-title`, text: "Unlink bank account?" }),
      el("p", { class: "unlink-description", id: `unlink-${n}-description`, text: `${account} will be unlinked. Its data will be deleted and this app will lose access to it. You can link it again later.` }),
      error,
      progress,
      el("div", { class: "unlink-actions" }, [cancel, confirm]),
    ],
  );
  const root = el("div", { class: "unlink", lang: "en", "data-state": "idle" }, [
    trigger,
    el("span", { id: `unlink-${n}-account`, hidden: "", text: account }),
    done,
    live,
    dialog,
  ]);
  host.append(root);

  let state = "idle";
  let key = null;
  const set = (next) => {
    state = next;
    root.dataset.state = next;
    const pending = next === "pending" ? "true" : null;
    for (const button of [cancel, confirm]) {
      if (pending) button.setAttribute("aria-disabled", pending);
      else button.removeAttribute("aria-disabled");
    }
    progress.textContent = pending ? "Unlinking…" : "";
  };
  const emit = (type, detail = {}) =>
    host.dispatchEvent(new CustomEvent(type, { bubbles: true, composed: true, detail: { accountId: options.accountId, ...detail } }));
  const dismiss = () => {
    if (state !== "confirming" && state !== "failed") return;
    set("idle");
    error.textContent = "";
    dialog.close();
    trigger.focus();
    emit("unlink:cancel");
  };

  trigger.addEventListener("click", () => {
    if (state !== "idle") return;
    set("confirming");
    key = null;
    dialog.showModal();
    cancel.focus();
    emit("unlink:open");
  });
  cancel.addEventListener("click", dismiss);
  dialog.addEventListener("cancel", (event) => {
    event.preventDefault();
    dismiss();
  });
  confirm.addEventListener("click", async () => {
    if (state !== "confirming" && state !== "failed") return;
    set("pending");
    key ??= crypto.randomUUID();
    emit("unlink:confirm", { idempotencyKey: key });
    let status = null;
    try {
      const response = await fetch(`${options.endpoint}/accounts/${options.accountId}/unlink`, {
        method: "POST",
        headers: { Accept: "application/json", "Idempotency-Key": key },
        credentials: "same-origin",
        signal: AbortSignal.timeout(15_000),
      });
      status = response.status;
      if (!response.ok) throw new Error(String(status));
      set("done");
      dialog.close();
      trigger.hidden = true;
      done.textContent = "Bank account unlinked.";
      done.focus();
      requestAnimationFrame(() => {
        live.textContent = done.textContent;
        setTimeout(() => (live.textContent = ""), 3000);
      });
      emit("unlink:success", { status, alreadyUnlinked: false, requestId: response.headers.get("x-request-id") });
    } catch {
      set("failed");
      error.textContent = MESSAGES[status] ?? "We couldn’t unlink your account. Try again.";
      confirm.focus();
      emit("unlink:error", { status, code: "server_error", retryAfter: null, requestId: null });
    }
  });

  return {
    mounted: Promise.resolve(),
    unmount() {
      root.remove();
    },
  };
}

customElements.define(
  "unlink-account",
  class extends HTMLElement {
    connectedCallback() {
      this.handle = mount(this, {
        accountId: this.getAttribute("account-id"),
        endpoint: this.getAttribute("endpoint"),
        bank: this.getAttribute("bank"),
        mask: this.getAttribute("mask"),
      });
    }
    disconnectedCallback() {
      this.handle?.unmount();
    }
  },
);
