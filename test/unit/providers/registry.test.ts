import { readdirSync, readFileSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { describe, expect, it } from "vitest";
import { PROVIDER_MODULES, PROVIDERS } from "../../../src/providers/registry.ts";

// The list of providers is written once: in src/providers/registry.ts. Everything else reads the
// registry, so a provider's name appears as a string literal only in its own folder.

const ROOT = join(import.meta.dirname, "../../..");
const SCANNED = ["src", "lambdas", "infra", "scripts", "bin"];

/**
 * String literals that hold a provider's name but do not mean the provider, with the reason: the
 * test fails if one of them disappears, so the list stays true.
 */
const NOT_A_PROVIDER: ReadonlyArray<{ file: string; literal: string; why: string }> = [
  { file: "src/local/dynamo.ts", literal: "local", why: "the region of dynalite's client" },
  { file: "src/cli/stack-commands.ts", literal: "local", why: "DEFAULT_TEAM: the team of `teamstack up`" },
  { file: "src/providers/aws/ssh-shell.ts", literal: "ssh", why: "the OpenSSH client's program, on PATH" },
  {
    file: "src/providers/docker/endpoint.ts",
    literal: "ssh",
    why: "an ssh:// Docker endpoint (DOCKER_HOST), as the Docker CLI reads it",
  },
  {
    file: "src/providers/docker/engine.ts",
    literal: "ssh",
    why: "an ssh:// endpoint's kind, and the OpenSSH client's program it dials through",
  },
];

/**
 * Files of data, not code, that name providers as a reader expects to see them: the OpenAPI
 * document's example answers (the example stack's servers on aws and local).
 */
const EXAMPLE_FILES = new Set(["src/api/schemas-examples.ts"]);

function sourceFiles(dir: string, names = /\.(ts|js)$/): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== "node_modules" && entry.name !== "dist") out.push(...sourceFiles(path, names));
    } else if (names.test(entry.name) && !entry.name.endsWith(".d.ts")) out.push(path);
  }
  return out;
}

const REGEX_AFTER_WORD = new Set([
  "return",
  "typeof",
  "case",
  "in",
  "of",
  "new",
  "delete",
  "void",
  "throw",
  "yield",
  "await",
]);

/**
 * Every string literal (and template literal without substitutions) of a TypeScript or JavaScript
 * file, with its line: a small lexer that skips comments, regular expressions and the `${}` parts
 * of templates (the project's TypeScript compiler has no JavaScript API to parse with).
 */
function literals(file: string): Array<{ text: string; line: number }> {
  const src = readFileSync(file, "utf8");
  const found: Array<{ text: string; line: number }> = [];
  const lineAt = (i: number) => src.slice(0, i).split("\n").length;
  // Brace depth at which each open template's `${` began, innermost last.
  const templates: number[] = [];
  let depth = 0;
  let previous = ""; // the last significant token, to tell a regular expression from a division
  let i = 0;
  const readTemplate = (start: number): void => {
    // From just after a backtick or a `}` closing `${`: to the closing backtick or the next `${`.
    let j = start;
    let text = "";
    for (;;) {
      const c = src[j];
      if (c === undefined) throw new Error(`${file}: unterminated template`);
      if (c === "\\") {
        text += src[j + 1];
        j += 2;
        continue;
      }
      if (c === "`") {
        if (src[start - 1] === "`") found.push({ text, line: lineAt(start) });
        i = j + 1;
        previous = "literal";
        return;
      }
      if (c === "$" && src[j + 1] === "{") {
        templates.push(depth);
        depth++;
        i = j + 2;
        previous = "{";
        return;
      }
      text += c;
      j++;
    }
  };
  while (i < src.length) {
    const c = src[i] as string;
    const next = src[i + 1];
    if (/\s/.test(c)) {
      i++;
    } else if (c === "/" && next === "/") {
      i = src.indexOf("\n", i);
      if (i === -1) break;
    } else if (c === "/" && next === "*") {
      i = src.indexOf("*/", i + 2) + 2;
    } else if (c === '"' || c === "'") {
      let j = i + 1;
      let text = "";
      while (src[j] !== c) {
        if (src[j] === "\\") {
          text += src[j + 1];
          j += 2;
        } else text += src[j++];
      }
      found.push({ text, line: lineAt(i) });
      i = j + 1;
      previous = "literal";
    } else if (c === "`") {
      readTemplate(i + 1);
    } else if (c === "/") {
      const division =
        previous === "literal" || (/[\w$)\]}]$/.test(previous) && !REGEX_AFTER_WORD.has(previous));
      if (division) {
        i++;
        previous = "/";
        continue;
      }
      // A regular expression: to its closing slash, past classes and escapes.
      let j = i + 1;
      let inClass = false;
      while (src[j] !== "/" || inClass) {
        if (src[j] === "\\") j++;
        else if (src[j] === "[") inClass = true;
        else if (src[j] === "]") inClass = false;
        j++;
      }
      j++;
      while (/[a-z]/.test(src[j] ?? "")) j++;
      i = j;
      previous = "literal";
    } else if (c === "{") {
      depth++;
      i++;
      previous = "{";
    } else if (c === "}") {
      depth--;
      i++;
      if (templates.length > 0 && templates[templates.length - 1] === depth) {
        templates.pop();
        readTemplate(i);
      } else previous = "}";
    } else if (/[\w$]/.test(c)) {
      let j = i;
      while (/[\w$]/.test(src[j] ?? "")) j++;
      previous = src.slice(i, j);
      i = j;
    } else {
      previous = c;
      i++;
    }
  }
  return found;
}

describe("the provider registry", () => {
  it("lists each provider once, with unique names and aliases, and one simulator", () => {
    const names = PROVIDER_MODULES.map((m) => m.declaration.name);
    expect(new Set(names).size).toBe(names.length);
    expect(PROVIDERS.names).toEqual(names);
    expect(PROVIDERS.simulator?.simulator).toBe(true);
  });

  it("keeps each provider in a folder of its name, a pure declaration.ts beside the factory.ts it loads", async () => {
    for (const m of PROVIDER_MODULES) {
      const folder = join(ROOT, "src", "providers", m.declaration.name);
      expect(readdirSync(folder), m.declaration.name).toEqual(
        expect.arrayContaining(["declaration.ts", "factory.ts"]),
      );
      const factory = await import(join(folder, "factory.ts"));
      expect(await m.load(), m.declaration.name).toBe(factory);
    }
  });

  it("writes each provider's name as a literal only in the provider's own folder", () => {
    const owners = new Map<string, string>();
    for (const d of PROVIDERS.declarations) {
      for (const name of [d.name, ...d.aliases]) owners.set(name, d.name);
    }
    const stray: string[] = [];
    const excused = new Set<string>();
    for (const top of SCANNED) {
      for (const path of sourceFiles(join(ROOT, top))) {
        const file = relative(ROOT, path).split(sep).join("/");
        if (EXAMPLE_FILES.has(file)) continue;
        for (const { text, line } of literals(path)) {
          const owner = owners.get(text);
          if (owner === undefined || file.startsWith(`src/providers/${owner}/`)) continue;
          const excuse = NOT_A_PROVIDER.find((e) => e.file === file && e.literal === text);
          if (excuse) excused.add(`${file}|${text}`);
          else stray.push(`${file}:${line}: "${text}"`);
        }
      }
    }
    expect(stray, "read the name from the registry (src/providers/registry.ts) instead").toEqual([]);
    // Each excuse still stands for a literal that is there.
    expect([...excused].sort()).toEqual(NOT_A_PROVIDER.map((e) => `${e.file}|${e.literal}`).sort());
  });

  it("pairs each declaration with its factory only in the registry: no second list imports them", () => {
    // A module outside a provider's folder that imports its declaration.ts or factory.ts keeps a
    // list of providers of its own (the console once did), which the next provider would miss.
    const halves = new RegExp(
      `(?:import|from)\\s*\\(?\\s*["'][^"']*\\/(${PROVIDERS.names.join("|")})\\/(?:declaration|factory)\\.ts["']`,
      "g",
    );
    const stray: string[] = [];
    for (const top of [...SCANNED, "web/src", "bench"]) {
      for (const path of sourceFiles(join(ROOT, top), /\.(ts|tsx|js)$/)) {
        const file = relative(ROOT, path).split(sep).join("/");
        if (file === "src/providers/registry.ts") continue;
        for (const m of readFileSync(path, "utf8").matchAll(halves)) {
          if (!file.startsWith(`src/providers/${m[1]}/`)) stray.push(`${file}: ${m[0]}`);
        }
      }
    }
    expect(stray, "read the providers from src/providers/registry.ts").toEqual([]);
  });
});
