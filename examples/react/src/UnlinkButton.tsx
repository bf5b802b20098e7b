// The widget as a React component: mount() in an effect, unmount() in its cleanup. New props
// re-mount it; leaving the page unmounts it (and aborts a request in flight).
import { useEffect, useRef } from "react";
import { mount, type UnlinkOptions } from "unlink-widget";

const EVENTS = ["unlink:open", "unlink:cancel", "unlink:confirm", "unlink:success", "unlink:error"];

export interface UnlinkButtonProps extends Pick<UnlinkOptions, "accountId" | "bank" | "mask"> {
  /** Every unlink:* event the widget dispatches, for the app's own state. */
  onEvent: (type: string, detail: unknown) => void;
}

export function UnlinkButton({ accountId, bank, mask, onEvent }: UnlinkButtonProps) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = host.current!;
    const handle = mount(element, { accountId, bank, mask, endpoint: "/api/mono" });
    const listener = (event: Event) => onEvent(event.type, (event as CustomEvent).detail);
    for (const type of EVENTS) element.addEventListener(type, listener);
    return () => {
      for (const type of EVENTS) element.removeEventListener(type, listener);
      handle.unmount();
    };
  }, [accountId, bank, mask, onEvent]);
  return <div ref={host} className="unlink-host" />;
}
