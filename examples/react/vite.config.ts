// The partner's Vite set-up. Two lines concern the widget: keep it out of dependency
// pre-bundling (which would move unlink.js away from unlink.wasm in development), and send
// /api to the backend that holds the Mono key (here the reference proxy).
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

export default defineConfig({
  plugins: [react()],
  optimizeDeps: { exclude: ["unlink-widget"] },
  server: {
    host: "127.0.0.1",
    proxy: { "/api": process.env.UNLINK_PROXY_URL ?? "http://127.0.0.1:8080" },
  },
});
