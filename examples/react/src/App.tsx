// A partner's settings app: a home page, and a "Linked accounts" page that shows one account
// at a time (switching re-mounts the widget) and, below it, an account the user does not own
// rendered with the <unlink-account> element. Events land in React state.
import { useCallback, useState } from "react";
import type {} from "unlink-widget/jsx";
import { UnlinkButton } from "./UnlinkButton";

const ACCOUNTS = [
  { id: "60770aa8c5878a2af69ed849", bank: "GTBank", mask: "1234" },
  { id: "65c4c03aa66a95b572cb5a86", bank: "Access Bank", mask: "5678" },
];
const SHARED = "64779d900000000000b3de23aeb8";

export function App() {
  const [page, setPage] = useState<"home" | "accounts">("home");
  const [shown, setShown] = useState(0);
  const [events, setEvents] = useState<string[]>([]);
  const onEvent = useCallback(
    (type: string, detail: unknown) =>
      setEvents((all) => [...all, `${type} ${(detail as { accountId: string }).accountId}`]),
    [],
  );
  const account = ACCOUNTS[shown];

  return (
    <>
      <nav>
        <button type="button" onClick={() => setPage("home")}>Home</button>
        <button type="button" onClick={() => setPage("accounts")}>Linked accounts</button>
      </nav>
      {page === "home" ? (
        <main>
          <h1>Home</h1>
        </main>
      ) : (
        <main>
          <h1>Linked accounts</h1>
          <p>
            {ACCOUNTS.map((a, i) => (
              <button key={a.id} type="button" aria-pressed={i === shown} onClick={() => setShown(i)}>
                {a.bank}
              </button>
            ))}
          </p>
          <section id="shown" aria-label={`${account.bank} account`}>
            <h2>{account.bank} · ending {account.mask}</h2>
            <UnlinkButton accountId={account.id} bank={account.bank} mask={account.mask} onEvent={onEvent} />
          </section>
          <section id="shared" aria-label="Shared account">
            <h2>Kuda · shared business account</h2>
            <unlink-account account-id={SHARED} endpoint="/api/mono" bank="Kuda" mask="9012" />
          </section>
        </main>
      )}
      <ol id="events" aria-label="Events">
        {events.map((event, i) => (
          <li key={i}>{event}</li>
        ))}
      </ol>
    </>
  );
}
