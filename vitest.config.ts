import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Integration tests start real child processes, sandboxes, containers and an sshd, and spend most
    // of their time waiting on them: two files at once on 2 cores (Vitest's default there is one).
    // Every test synchronises on events, so a second file beside it is only a busier machine.
    maxWorkers: 2,
    // Give them room on 2 cores.
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
