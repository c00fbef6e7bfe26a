import { describe, expect, it } from "vitest";
import { buildConsole } from "../../../web/build.ts";

// The console's build with the editor's worker: the validator ships as a script of its own, and
// the first page's script carries none of it.
describe("the console's build", () => {
  it("emits the validator worker as assets/validator-<hash>.js and keeps it out of the app's script", async () => {
    const { files } = await buildConsole();
    const workers = [...files.keys()].filter((k) => /^assets\/validator-[0-9a-f]{12}\.js$/.test(k));
    expect(workers).toHaveLength(1);
    const worker = files.get(workers[0] as string);
    expect(worker?.contentType).toBe("text/javascript; charset=utf-8");
    const text = (key: string) => new TextDecoder().decode(files.get(key)?.body);
    // A message only the validator has.
    const marker = "expected a mapping with at least `servers:`";
    expect(text(workers[0] as string)).toContain(marker);
    const app = [...files.keys()].filter((k) => /^assets\/app-.*\.js$/.test(k));
    expect(app).toHaveLength(1);
    expect(text(app[0] as string)).not.toContain(marker);
    // The editor's chunk names the worker by its hashed path.
    const chunks = [...files.keys()].filter((k) => k.startsWith("assets/chunk-"));
    expect(chunks.some((k) => text(k).includes(workers[0] as string))).toBe(true);
  }, 60_000);
});
