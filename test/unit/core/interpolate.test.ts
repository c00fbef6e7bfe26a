import { describe, expect, it } from "vitest";
import {
  classify,
  findReferences,
  type Reference,
  referenceKey,
  render,
  scan,
  type Token,
} from "../../../src/core/interpolate.ts";

const angle = (ref: Reference): string => `<${referenceKey(ref)}>`;
const keys = (text: string): string[] => findReferences(text).map(referenceKey);
const only = (text: string): Reference => {
  const refs = findReferences(text);
  expect(refs).toHaveLength(1);
  return refs[0] as Reference;
};
const rawOf = (token: Token): string => {
  switch (token.kind) {
    case "text":
      return token.text;
    case "ref":
      return token.ref.raw;
    case "escape":
      return `$${token.literal}`;
    case "malformed":
      return token.raw;
  }
};

describe("scan and render", () => {
  it("leaves shell syntax untouched", () => {
    const shell = `$HOME \${PATH} $1 $@ $# $? $$ $(cmd) \`cmd\` \${USER:-x} $SERVERS`;
    expect(scan(shell)).toEqual([{ kind: "text", text: shell, start: 0 }]);
    expect(render(shell, angle)).toEqual({ text: shell, unresolved: [] });
  });

  it("leaves a root without a name, or a longer word, untouched", () => {
    for (const text of [
      "$vars",
      "$vars.",
      "$vars.1x",
      "$vars.-x",
      "$varsx.y",
      `\${vars}`,
      `\${varsx.y}`,
      "$Vars.x",
      "$SERVERS.a.IP",
      "$koding",
      `\${ vars.x}`,
      "$ vars.x",
      "$",
      "$$",
      "$$$",
    ]) {
      expect(findReferences(text), text).toEqual([]);
      expect(render(text, angle).text, text).toBe(text);
    }
  });

  it("substitutes both the bare and the braced form", () => {
    expect(render(`a=$vars.x b=\${vars.x}`, (ref) => (ref.path[0] === "x" ? "1" : undefined))).toEqual({
      text: "a=1 b=1",
      unresolved: [],
    });
    expect(findReferences(`\${vars.x}`)).toEqual([
      { root: "vars", path: ["x"], raw: `\${vars.x}`, start: 0, end: 9, braced: true },
    ]);
  });

  it("recognises every root, case-sensitively", () => {
    expect(keys("$vars.a $servers.b.IP $koding.userdata.c $Koding.userdata.c $VARS.a")).toEqual([
      "vars.a",
      "servers.b.IP",
      "koding.userdata.c",
    ]);
  });

  it("ends a reference at a character that cannot continue a name", () => {
    expect(keys("mysql -h $servers.db.IP:3306")).toEqual(["servers.db.IP"]);
    expect(keys("curl http://$servers.web.IP/health")).toEqual(["servers.web.IP"]);
    expect(keys('echo "$vars.greeting"')).toEqual(["vars.greeting"]);
    expect(keys("($vars.a)")).toEqual(["vars.a"]);
    expect(keys("$vars.a$vars.b")).toEqual(["vars.a", "vars.b"]);
    expect(keys("$vars.a.$vars.b")).toEqual(["vars.a", "vars.b"]);
  });

  it("leaves a trailing dot as text", () => {
    const text = "The database is at $servers.db.IP.";
    const ref = only(text);
    expect(ref.raw).toBe("$servers.db.IP");
    expect(render(text, () => "10.0.0.1").text).toBe("The database is at 10.0.0.1.");
    expect(keys("$servers.db.IP..x")).toEqual(["servers.db.IP"]);
  });

  it("keeps `-`, `_` and digits inside names", () => {
    expect(only("$servers.my-db_2.IP").path).toEqual(["my-db_2", "IP"]);
    expect(only("$vars._x-1").path).toEqual(["_x-1"]);
    expect(only(`\${servers.my-db.PrivateIP}`).path).toEqual(["my-db", "PrivateIP"]);
  });

  it("reports exact offsets of references on multi-line text", () => {
    const text = `#!/bin/sh\necho $vars.name\n  host=\${servers.db.IP}:5432\r\nx=$koding.artifact.stackId`;
    const refs = findReferences(text);
    expect(refs.map((r) => [r.raw, r.start, r.end, r.braced])).toEqual([
      ["$vars.name", 15, 25, false],
      [`\${servers.db.IP}`, 33, 49, true],
      ["$koding.artifact.stackId", 58, 82, false],
    ]);
    for (const ref of refs) expect(text.slice(ref.start, ref.end)).toBe(ref.raw);
  });

  it("merges adjacent text and covers the input exactly", () => {
    const text = "a $HOME $$ b $vars.x c";
    const tokens = scan(text);
    expect(tokens).toEqual([
      { kind: "text", text: "a $HOME $$ b ", start: 0 },
      { kind: "ref", ref: { root: "vars", path: ["x"], raw: "$vars.x", start: 13, end: 20, braced: false } },
      { kind: "text", text: " c", start: 20 },
    ]);
    expect(tokens.map(rawOf).join("")).toBe(text);
  });

  it("returns no tokens for empty text", () => {
    expect(scan("")).toEqual([]);
    expect(render("", angle)).toEqual({ text: "", unresolved: [] });
  });

  it("lists unresolved references and leaves them as written", () => {
    const text = `$vars.a and \${vars.b} and $vars.a`;
    const result = render(text, (ref) => (ref.path[0] === "b" ? "B" : undefined));
    expect(result.text).toBe("$vars.a and B and $vars.a");
    expect(result.unresolved.map((r) => [r.raw, r.start])).toEqual([
      ["$vars.a", 0],
      ["$vars.a", 26],
    ]);
  });

  it("inserts values verbatim, without rescanning them", () => {
    const value = `$vars.b $$ \${HOME}`;
    expect(render("$vars.a", () => value).text).toBe(value);
  });
});

describe("the $$ escape", () => {
  it("renders `$$` before a reference as that reference with one `$`, and yields no reference", () => {
    expect(render("$$servers.a.IP", angle)).toEqual({ text: "$servers.a.IP", unresolved: [] });
    expect(findReferences("$$servers.a.IP")).toEqual([]);
    expect(scan("x $$servers.a.IP")).toEqual([
      { kind: "text", text: "x ", start: 0 },
      { kind: "escape", start: 2, end: 16, literal: "$servers.a.IP" },
    ]);
  });

  it("escapes the braced form too", () => {
    expect(render(`$\${servers.db.IP}`, angle).text).toBe(`\${servers.db.IP}`);
    expect(findReferences(`$\${servers.db.IP}`)).toEqual([]);
  });

  it("keeps `$$` before anything else and scans on after it", () => {
    expect(render("echo $$ $$HOME $$1 $$vars $$.x", angle).text).toBe("echo $$ $$HOME $$1 $$vars $$.x");
    expect(render("$$$servers.a.IP", angle).text).toBe("$$<servers.a.IP>");
    expect(render("$$$$servers.a.IP", angle).text).toBe("$$$servers.a.IP");
    expect(keys("$$$servers.a.IP")).toEqual(["servers.a.IP"]);
  });

  it("treats `$$` before a malformed braced reference as the shell's PID", () => {
    const text = `$\${vars.x:-y}`;
    expect(scan(text)).toEqual([{ kind: "text", text, start: 0 }]);
  });

  it("ends the escaped reference where a reference would end", () => {
    expect(render("$$servers.db.IP:3306.", angle).text).toBe("$servers.db.IP:3306.");
  });
});

describe("malformed braced references", () => {
  it("reports a braced reference with shell syntax inside", () => {
    const text = `echo \${vars.x:-y} done`;
    const tokens = scan(text);
    expect(tokens[1]).toEqual({
      kind: "malformed",
      start: 5,
      end: 17,
      raw: `\${vars.x:-y}`,
      message: `malformed reference \`\${vars.x:-y}\`: unexpected \`:\` after \`\${vars.x\`; expected \`\${vars.NAME}\` closed by \`}\``,
    });
    expect(render(text, angle)).toEqual({ text, unresolved: [] });
  });

  it("reports an unterminated braced reference up to the end of its line", () => {
    const text = `a \${servers.a.IP b\nnext $vars.x`;
    const tokens = scan(text);
    expect(tokens[1]).toMatchObject({
      kind: "malformed",
      start: 2,
      end: 18,
      raw: `\${servers.a.IP b`,
      message: `malformed reference \`\${servers.a.IP b\`: unexpected \` \` after \`\${servers.a.IP\`; expected \`\${servers.SERVER.ARTIFACT}\` closed by \`}\``,
    });
    expect(keys(text)).toEqual(["vars.x"]);
    expect(scan(`\${servers.a.IP`)).toMatchObject([
      {
        kind: "malformed",
        message: `malformed reference \`\${servers.a.IP\`: no closing \`}\`; expected \`\${servers.SERVER.ARTIFACT}\` closed by \`}\``,
      },
    ]);
  });

  it("reports an empty name or a doubled dot", () => {
    for (const [text, found] of [
      [`\${vars.}`, `unexpected \`}\` after \`\${vars.\``],
      [`\${vars..x}`, `unexpected \`.\` after \`\${vars.\``],
      [`\${koding.artifact.}`, `unexpected \`}\` after \`\${koding.artifact.\``],
      [`\${vars.1}`, `unexpected \`1\` after \`\${vars.\``],
    ] as const) {
      const tokens = scan(text);
      expect(tokens).toHaveLength(1);
      expect(tokens[0]).toMatchObject({ kind: "malformed", raw: text });
      expect((tokens[0] as { message: string }).message).toContain(found);
    }
  });

  it("names the koding shapes in the message", () => {
    const [token] = scan(`\${koding.userdata.x y}`);
    expect(token).toMatchObject({
      kind: "malformed",
      message: expect.stringContaining(
        `expected \`\${koding.artifact.NAME}\` or \`\${koding.userdata.KEY}\``,
      ),
    });
  });

  it("stops a malformed reference at the first `}`", () => {
    const text = `\${vars.a b} \${vars.c}`;
    expect(scan(text).map((t) => t.kind)).toEqual(["malformed", "text", "ref"]);
  });
});

describe("classify", () => {
  const meaning = (text: string) => classify(only(text));

  it("classifies vars, server artifacts, stack artifacts and user data", () => {
    expect(meaning("$vars.port")).toEqual({ kind: "var", name: "port" });
    expect(meaning(`\${vars.port}`)).toEqual({ kind: "var", name: "port" });
    expect(meaning("$servers.mysql.IP")).toEqual({ kind: "server", server: "mysql", artifact: "IP" });
    expect(meaning("$koding.artifact.mysql.Hostname")).toEqual({
      kind: "server",
      server: "mysql",
      artifact: "Hostname",
    });
    expect(meaning("$koding.artifact.stackId")).toEqual({ kind: "stack", name: "stackId" });
    expect(meaning("$koding.userdata.github_token")).toEqual({ kind: "userdata", key: "github_token" });
  });

  it("accepts every server and stack artifact", () => {
    for (const a of ["IP", "PrivateIP", "PublicIP", "Id", "Hostname", "Provider", "Type", "Region"]) {
      expect(meaning(`$servers.s.${a}`)).toEqual({ kind: "server", server: "s", artifact: a });
    }
    for (const k of ["domainName", "stackId", "memberName", "teamName"]) {
      expect(meaning(`$koding.artifact.${k}`)).toEqual({ kind: "stack", name: k });
    }
  });

  it("rejects an unknown server artifact, naming the choices and the case-insensitive match", () => {
    expect(meaning("$servers.mysql.ip")).toEqual({
      kind: "invalid",
      message:
        "`$servers.mysql.ip`: unknown server artifact `ip`; expected one of IP, PrivateIP, PublicIP, Id, Hostname, Provider, Type, Region; did you mean `IP`?",
    });
    expect(meaning("$servers.mysql.Address")).toEqual({
      kind: "invalid",
      message:
        "`$servers.mysql.Address`: unknown server artifact `Address`; expected one of IP, PrivateIP, PublicIP, Id, Hostname, Provider, Type, Region",
    });
    expect(meaning("$koding.artifact.mysql.privateip")).toMatchObject({
      kind: "invalid",
      message: expect.stringContaining("did you mean `PrivateIP`?"),
    });
  });

  it("rejects a server reference with too few or too many parts", () => {
    expect(meaning("$servers.mysql")).toEqual({
      kind: "invalid",
      message:
        "`$servers.mysql`: no artifact named; expected `$servers.SERVER.ARTIFACT` with ARTIFACT one of IP, PrivateIP, PublicIP, Id, Hostname, Provider, Type, Region",
    });
    expect(meaning("$servers.mysql.IP.x")).toMatchObject({
      kind: "invalid",
      message: expect.stringMatching(/^`\$servers\.mysql\.IP\.x`: a server artifact has no fields; expected/),
    });
  });

  it("rejects a var with fields", () => {
    expect(meaning("$vars.a.b")).toEqual({
      kind: "invalid",
      message: "`$vars.a.b`: a var has no fields; expected `$vars.NAME`",
    });
    expect(meaning(`\${vars.a.b}`)).toEqual({
      kind: "invalid",
      message: `\`\${vars.a.b}\`: a var has no fields; expected \`$vars.NAME\``,
    });
  });

  it("rejects an unknown koding section", () => {
    expect(meaning("$koding.foo.x")).toEqual({
      kind: "invalid",
      message:
        "`$koding.foo.x`: unknown `koding` section `foo`; expected `koding.artifact` or `koding.userdata`",
    });
    expect(meaning("$koding.UserData.x")).toMatchObject({
      kind: "invalid",
      message: expect.stringContaining("did you mean `userdata`?"),
    });
  });

  it("rejects koding artifacts of the wrong shape", () => {
    expect(meaning("$koding.artifact")).toMatchObject({
      kind: "invalid",
      message: expect.stringMatching(
        /^`\$koding\.artifact`: no artifact named; expected `\$koding\.artifact\.NAME`/,
      ),
    });
    expect(meaning("$koding.artifact.stackid")).toEqual({
      kind: "invalid",
      message:
        "`$koding.artifact.stackid`: unknown stack artifact `stackid`; expected `$koding.artifact.NAME` with NAME one of domainName, stackId, memberName, teamName, or `$koding.artifact.SERVER.ARTIFACT`; did you mean `stackId`?",
    });
    expect(meaning("$koding.artifact.a.IP.x")).toMatchObject({
      kind: "invalid",
      message: expect.stringContaining("too many parts"),
    });
  });

  it("rejects user data of the wrong shape", () => {
    expect(meaning("$koding.userdata")).toEqual({
      kind: "invalid",
      message: "`$koding.userdata`: no key named; expected `$koding.userdata.KEY`",
    });
    expect(meaning("$koding.userdata.a.b")).toEqual({
      kind: "invalid",
      message: "`$koding.userdata.a.b`: a user data value has no fields; expected `$koding.userdata.KEY`",
    });
  });
});

describe("referenceKey", () => {
  it("joins the root and the path with dots", () => {
    expect(referenceKey(only(`\${servers.mysql.IP}`))).toBe("servers.mysql.IP");
    expect(referenceKey(only("$koding.userdata.x"))).toBe("koding.userdata.x");
  });
});

// Speed is measured by `npm run bench`, not asserted here; these check the large inputs come out right.
describe("large inputs", () => {
  it("scans a 3,000-server template's user data completely", () => {
    const script = (i: number) =>
      `#!/bin/bash\nexport HOME=$HOME PID=$$\nmysql -h $servers.db${i % 50}.IP:3306 -u \${vars.user} < /tmp/x\necho "$koding.artifact.stackId $$servers.x.IP \${PATH}"\n`;
    const text = Array.from({ length: 3000 }, (_, i) => script(i)).join("");
    expect(findReferences(text)).toHaveLength(9000);
  });

  it("covers long runs of `$` and `${` exactly", () => {
    for (const text of [
      "$".repeat(200_000),
      "${".repeat(100_000),
      "{".repeat(200_000),
      "$${vars.".repeat(25_000),
      `\${vars.${"a".repeat(200_000)}`,
      "$vars.".repeat(30_000),
      `\${vars.a-`.repeat(20_000),
    ]) {
      const tokens = scan(text);
      const covered = tokens.reduce(
        (n, t) =>
          n + (t.kind === "text" ? t.text.length : t.kind === "ref" ? t.ref.raw.length : t.end - t.start),
        0,
      );
      expect(covered).toBe(text.length);
    }
  });
});
