import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runShellCommand } from "../../../src/cli/server-commands.ts";

// `teamstack shell` runs the provider's command as a real child process and, once it has ended
// (or could not start), the command's cleanup: the aws provider's one-time key goes with it.

const dir = mkdtempSync(join(tmpdir(), "run-shell-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("runShellCommand", () => {
  it("answers the shell's exit code, and cleans up only after the shell has ended", async () => {
    const marker = join(dir, "ended");
    const order: string[] = [];
    const code = await runShellCommand({
      file: "sh",
      args: ["-c", `touch '${marker}'; exit 3`],
      options: { stdio: "ignore" },
      cleanup: async () => {
        order.push(
          statSync(marker, { throwIfNoEntry: false }) ? "cleanup after the shell" : "cleanup too early",
        );
      },
    });
    expect(code).toBe(3);
    expect(order).toEqual(["cleanup after the shell"]);
  });

  it("cleans up when the shell cannot start, and still fails", async () => {
    let cleaned = 0;
    await expect(
      runShellCommand({
        file: join(dir, "no-such-ssh"),
        args: [],
        options: { stdio: "ignore" },
        cleanup: async () => {
          cleaned++;
        },
      }),
    ).rejects.toThrow(/ENOENT/);
    expect(cleaned).toBe(1);
  });

  it("runs a command without cleanup as before", async () => {
    expect(await runShellCommand({ file: "sh", args: ["-c", "exit 0"], options: { stdio: "ignore" } })).toBe(
      0,
    );
  });
});
