import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import "unlink-widget/unlink.css";
import { App } from "./App";

// StrictMode: in development React mounts every component, unmounts it and mounts it again,
// to prove effects clean up after themselves. The widget must survive that.
createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
