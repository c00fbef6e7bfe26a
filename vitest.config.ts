import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Integration tests start real child processes and sandboxes; give them room on 2 cores.
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
