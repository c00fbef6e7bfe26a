import { describe, expect, it } from "vitest";
import { loadTemplate } from "../../../../src/core/validate.ts";
import { PROVIDERS } from "../../../../src/providers/registry.ts";
import {
  attemptDir,
  fingerprint,
  hostKeyAlgorithms,
  interpreterOf,
  parseHost,
  parseServerId,
  pickHost,
  serverId,
  serverPrefix,
} from "../../../../src/providers/ssh/hosts.ts";

const ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKGg0bzDRLqd9tXm1oD0v05COXesd1iBqwk/21tFQfQq";
const RSA =
  "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDXQpXqO4+MuGdAG3gqsAK805YcC98R1WorkvOMo3Esb2drGfY4jRDclKD7UqlZDYIDeTOEMNHbgxcnJvZXaV60JdOgoLHa4J+9dh/svEfqjPK0cegE+P60cINU5QAimjGW8g6IwFKhemGMjGiaa5BJRM8OtPKqI+IVV+jer4Cb/Q==";
const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-really\n-----END OPENSSH PRIVATE KEY-----";

const credential = (fields: Record<string, string>, name = "box") => ({
  team: "t",
  name,
  provider: "ssh",
  fields: { address: "10.0.0.5", user: "deploy", privateKey: KEY, hostKey: ED25519, ...fields },
});

describe("ssh hosts", () => {
  it("computes host key fingerprints as ssh-keygen -lf prints them", () => {
    // Both printed by `ssh-keygen -lf` for these keys.
    expect(fingerprint(ED25519.split(" ")[1] as string)).toBe(
      "SHA256:4sVZCmCk8xVVnfEupsss4ujokG6LDxub6/NQ6nNBCgk",
    );
    expect(fingerprint(RSA.split(" ")[1] as string)).toBe(
      "SHA256:SI+0idKd8+teaLSD9L4VKuzwlWlu8Rkbn7YHOqbn/k0",
    );
  });

  it("reads a registered host with its defaults, keeping a comment after the host key out", () => {
    expect(parseHost(credential({ hostKey: `${ED25519} root@vm` }))).toEqual({
      name: "box",
      address: "10.0.0.5",
      port: 22,
      user: "deploy",
      privateKey: `${KEY}\n`,
      hostKey: { type: "ssh-ed25519", blob: ED25519.split(" ")[1] },
      root: "~/.teamstack/servers",
    });
    expect(parseHost(credential({ port: "2222", root: "/srv/teamstack", hostKey: RSA }))).toMatchObject({
      port: 2222,
      root: "/srv/teamstack",
      hostKey: { type: "ssh-rsa" },
    });
  });

  it("refuses bad fields, naming each and never showing the private key", () => {
    const bad = () =>
      parseHost(
        credential({
          address: "-oProxyCommand=x",
          port: "70000",
          privateKey: "secret-value",
          hostKey: "10.0.0.5 ssh-ed25519 AAAA",
          root: "~/../etc",
        }),
      );
    expect(bad).toThrow(
      /ssh host `box` of team `t` cannot be used: address: expected a hostname or an IP address, found `-oProxyCommand=x`; privateKey: expected an unencrypted private key; hostKey: expected a line `ssh-ed25519 AAAA...`/,
    );
    expect(bad).toThrow(/root: expected no `\.\.`/);
    expect(bad).toThrow(/port: expected a whole number from 1 to 65535, found `70000`/);
    expect(bad).not.toThrow(/secret-value/);
    expect(() => parseHost({ team: "t", name: "x", provider: "ssh", fields: {} })).toThrow(
      /address is missing; user is missing; privateKey is missing; hostKey is missing/,
    );
  });

  it("picks the same host for the same server every time, and moves only one host's servers when it goes", () => {
    const pool = ["a", "b", "c", "d"];
    const servers = Array.from({ length: 400 }, (_, i) => `s${i}`);
    const picks = servers.map((s) => pickHost(pool, "t", "stack-1", s));
    expect(servers.map((s) => pickHost([...pool].reverse(), "t", "stack-1", s))).toEqual(picks);
    const counts = pool.map((h) => picks.filter((p) => p === h).length);
    for (const n of counts) expect(n).toBeGreaterThan(60);
    const without = servers.map((s) => pickHost(["a", "b", "d"], "t", "stack-1", s));
    servers.forEach((_, i) => {
      if (picks[i] !== "c") expect(without[i]).toBe(picks[i]);
    });
    expect(pickHost([], "t", "s", "x")).toBeUndefined();
  });

  it("names one directory per server and token, found again from its Id", () => {
    const dir = attemptDir("t", "stack-1", "web", "stack-1.web.1");
    expect(dir).toMatch(/^ts-[0-9a-f]{12}-[0-9a-f]{8}$/);
    expect(dir.startsWith(serverPrefix("t", "stack-1", "web"))).toBe(true);
    expect(attemptDir("t", "stack-1", "web", "stack-1.web.2")).not.toBe(dir);
    expect(attemptDir("u", "stack-1", "web", "stack-1.web.1")).not.toBe(dir);
    expect(parseServerId(serverId("box.1", dir))).toEqual({ host: "box.1", dir });
    for (const id of ["", "box", `box/${dir}/x`, "box/../etc", `/${dir}`, "sim-1234"]) {
      expect(parseServerId(id), id).toBeUndefined();
    }
  });

  it("runs a #! script with its interpreter and one argument, as the kernel does", () => {
    expect(interpreterOf("echo hi\n")).toEqual([]);
    expect(interpreterOf("#!/bin/bash\necho\n")).toEqual(["/bin/bash"]);
    expect(interpreterOf("#! /usr/bin/env python3 -u\nprint()\n")).toEqual(["/usr/bin/env", "python3 -u"]);
    expect(hostKeyAlgorithms("ssh-rsa")).toBe("rsa-sha2-512,rsa-sha2-256");
    expect(hostKeyAlgorithms("ssh-ed25519")).toBe("ssh-ed25519");
  });

  it("validates ssh servers: the host option, portable sizes accepted, and no stop verb", () => {
    const text = `servers:
  - name: web
    provider: ssh
    type: 4gb-ram/40gb-disk
    options: { host: build-box.1 }
  - name: db
    provider: ssh
    type: host
  - name: bad
    provider: ssh
    type: t3.micro
    options: { host: "no/such", region: x }
`;
    const { problems } = loadTemplate(text, "stack.yaml", PROVIDERS);
    expect(problems.map((p) => `${p.line}: ${p.message}`)).toEqual([
      "11: server `bad`: provider `ssh` has no machine type `t3.micro`; expected a ssh type such as host or a portable size such as 4gb-ram/40gb-disk",
      "12: server `bad`: options.host: expected an ssh host's name, found `no/such`",
      "12: server `bad`: provider `ssh` does not support option `region`; supported: host",
    ]);
    expect(PROVIDERS.lookup("ssh")?.capabilities.verbs).toEqual(["shell"]);
  });
});
