import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { wrapperScript } from "../../../../src/providers/aws/user-data.ts";

// The UserData wrapper run for real under bash, as cloud-init runs it on an instance. What only an
// instance has is replaced by small commands first on PATH: curl answers the metadata service and
// records the callback's POST, getent names a default user in a scratch home, chown and sleep do
// nothing.

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "teamstack-wrapper-"));
  const bin = join(dir, "bin");
  mkdirSync(bin);
  mkdirSync(join(dir, "posts"));
  const shims: Record<string, string> = {
    curl: `#!/bin/bash
case "$*" in
  *latest/api/token*) printf imds-token; exit 0 ;;
  *meta-data/public-ipv4*) printf 203.0.113.10; exit 0 ;;
  *meta-data/*) exit 22 ;;
esac
n=$(ls "$FAKE_DIR/posts" | grep -c '[.]args$')
printf '%s\\n' "$@" > "$FAKE_DIR/posts/$n.args"
for a in "$@"; do case "$a" in @*) cp "\${a#@}" "$FAKE_DIR/posts/$n.body" ;; esac; done
# The answers, one per POST (the last one repeats): 409 first makes the wrapper try again.
codes=($FAKE_STATUS)
i=$(( n < \${#codes[@]} ? n : \${#codes[@]} - 1 ))
printf '%s' "\${codes[$i]}"
`,
    getent: `#!/bin/bash\nprintf 'tester:x:1000:1000::%s:/bin/bash\\n' "$FAKE_DIR/home"\n`,
    chown: "#!/bin/bash\nexit 0\n",
    sleep: "#!/bin/bash\nexit 0\n",
  };
  for (const [name, text] of Object.entries(shims)) {
    writeFileSync(join(bin, name), text);
    chmodSync(join(bin, name), 0o755);
  }
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function run(script: string, status: string) {
  return spawnSync("bash", ["-c", script], {
    env: {
      ...process.env,
      PATH: `${join(dir, "bin")}:${process.env.PATH}`,
      FAKE_DIR: dir,
      FAKE_STATUS: status,
    },
    encoding: "utf8",
    timeout: 20_000,
  });
}

const URL = "https://api.example.test/callbacks/ready/acme/st-1/web/1?sig=abc123";

describe("the user_data wrapper under bash", () => {
  it("runs user_data with its env, keeps the exit code, installs the keys, and reports exit code and output", () => {
    const state = join(dir, "state");
    const script = wrapperScript({
      stackId: "st-1",
      server: "web",
      userData:
        'echo "server=$TEAMSTACK_SERVER ip=$TEAMSTACK_IP stack=$TEAMSTACK_STACK_ID"\necho oops >&2\nexit 3\n',
      publicKeys: ["ssh-ed25519 AAAAC3Nza ada@laptop", "ecdsa-sha2-nistp256 AAAAE2Vj bob@desk"],
      callback: { url: URL, signature: "abc123" },
      stateDir: state,
    });
    const out = run(script, "200");
    expect(out.status).toBe(3);
    expect(out.stdout).toContain("server=web ip=203.0.113.10 stack=st-1");
    expect(readFileSync(join(state, "exit-code"), "utf8")).toBe("3\n");
    expect(readFileSync(join(dir, "home", ".ssh", "authorized_keys"), "utf8")).toBe(
      "ssh-ed25519 AAAAC3Nza ada@laptop\necdsa-sha2-nistp256 AAAAE2Vj bob@desk\n",
    );
    expect(readdirSync(join(dir, "posts")).sort()).toEqual(["0.args", "0.body"]);
    expect(JSON.parse(readFileSync(join(dir, "posts", "0.body"), "utf8"))).toEqual({
      exitCode: 3,
      output: "server=web ip=203.0.113.10 stack=st-1\noops\n",
    });
    const args = readFileSync(join(dir, "posts", "0.args"), "utf8").split("\n");
    expect(args).toContain(URL);
    expect(args).toContain("x-teamstack-signature: abc123");
    expect(args).toContain("POST");
  });

  it("reports again while the API answers 409 (not waiting yet), and stops at the first 2xx", () => {
    const script = wrapperScript({
      stackId: "st-1",
      server: "web",
      userData: "#!/bin/sh\necho ready",
      publicKeys: [],
      callback: { url: URL, signature: "abc123" },
      stateDir: join(dir, "state"),
    });
    const out = run(script, "409 409 503 200");
    expect(out.status).toBe(0);
    expect(readdirSync(join(dir, "posts")).filter((f) => f.endsWith(".body"))).toHaveLength(4);
    expect(JSON.parse(readFileSync(join(dir, "posts", "3.body"), "utf8"))).toEqual({
      exitCode: 0,
      output: "ready\n",
    });
  });

  it("gives up at once on 410 (reported already) and 403", () => {
    const script = wrapperScript({
      stackId: "st-1",
      server: "web",
      userData: "true",
      publicKeys: [],
      callback: { url: URL, signature: "abc123" },
      stateDir: join(dir, "state"),
    });
    expect(run(script, "410").status).toBe(0);
    expect(readdirSync(join(dir, "posts")).filter((f) => f.endsWith(".body"))).toHaveLength(1);
  });
});
