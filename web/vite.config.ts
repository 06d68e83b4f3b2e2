// Builds the dashboard into the Python package (src/traindeck/web/, git-ignored), where the
// server serves it with an index.html fallback for client routes. `npm run dev` proxies the
// API and the WebSocket to a server on 127.0.0.1:8000 (`traindeck serve`).
import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";
import { fileURLToPath } from "node:url";

const target = process.env.TRAINDECK_DEV_SERVER ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  base: "/",
  build: {
    outDir: fileURLToPath(new URL("../src/traindeck/web", import.meta.url)),
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 1000,
  },
  server: {
    proxy: {
      "/api": target,
      "/health": target,
      "/ws": { target: target.replace(/^http/, "ws"), ws: true },
    },
  },
  test: {
    include: ["src/**/*.test.ts", "src/**/*.test.tsx"],
    environment: "node",
  },
});
