import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createdLine, findStateDir, nearestStateDir } from "../../../src/cli/state-dir.ts";

// A real folder tree: root/.teamstack, root/a/b/c (no .teamstack of its own), root/x/.teamstack
// as a file (not a folder: not a state directory).
let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "teamstack-discovery-"));
  mkdirSync(join(root, ".teamstack"));
  mkdirSync(join(root, "a", "b", "c"), { recursive: true });
  mkdirSync(join(root, "a", "b", ".teamstack"));
  mkdirSync(join(root, "x"));
  writeFileSync(join(root, "x", ".teamstack"), "not a folder");
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const home = "/home/ann";

describe("findStateDir", () => {
  it("takes --state-dir first, relative to the current folder", () => {
    expect(
      findStateDir("state", { cwd: join(root, "a"), env: { TEAMSTACK_STATE_DIR: "/env" }, home }),
    ).toEqual({
      dir: join(root, "a", "state"),
      source: "flag",
    });
  });

  it("finds the nearest .teamstack in the current folder or above, before TEAMSTACK_STATE_DIR", () => {
    const env = { TEAMSTACK_STATE_DIR: "/env/state" };
    expect(findStateDir(undefined, { cwd: join(root, "a", "b", "c"), env, home })).toEqual({
      dir: join(root, "a", "b", ".teamstack"),
      source: "found",
    });
    expect(findStateDir(undefined, { cwd: join(root, "a"), env, home })).toEqual({
      dir: join(root, ".teamstack"),
      source: "found",
    });
    expect(findStateDir(undefined, { cwd: root, env, home }).dir).toBe(join(root, ".teamstack"));
  });

  it("passes over a .teamstack that is a file", () => {
    expect(nearestStateDir(join(root, "x"), {})).toBe(join(root, ".teamstack"));
  });

  it("stops below a ceiling folder, then takes TEAMSTACK_STATE_DIR", () => {
    const env = { TEAMSTACK_CEILING_DIRECTORIES: `relative:${root}`, TEAMSTACK_STATE_DIR: "/env/state" };
    expect(findStateDir(undefined, { cwd: join(root, "a"), env, home })).toEqual({
      dir: "/env/state",
      source: "env",
    });
    // Below the ceiling, a .teamstack is still found.
    expect(findStateDir(undefined, { cwd: join(root, "a", "b", "c"), env, home }).source).toBe("found");
  });

  it("falls back to XDG_STATE_HOME, then ~/.local/state", () => {
    const none = () => false;
    expect(
      findStateDir(undefined, { cwd: "/w", env: { XDG_STATE_HOME: "/xdg" }, home, isFolder: none }),
    ).toEqual({
      dir: "/xdg/teamstack",
      source: "default",
    });
    // A relative XDG_STATE_HOME is invalid (the XDG spec) and an empty TEAMSTACK_STATE_DIR unset.
    expect(
      findStateDir(undefined, {
        cwd: "/w",
        env: { XDG_STATE_HOME: "rel", TEAMSTACK_STATE_DIR: "" },
        home,
        isFolder: none,
      }),
    ).toEqual({ dir: "/home/ann/.local/state/teamstack", source: "default" });
  });

  it("says how it chose a directory it created", () => {
    expect(createdLine({ dir: "/s", source: "default" })).toMatch(
      /^teamstack: created the state directory \/s \(the per-user default; .*--state-dir chooses another\)\n$/,
    );
    expect(createdLine({ dir: "/s", source: "env" })).toBe(
      "teamstack: created the state directory /s (TEAMSTACK_STATE_DIR)\n",
    );
  });
});
