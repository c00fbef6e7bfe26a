import { describe, expect, it } from "vitest";
import { callbackSignature, callbackUrl } from "../../../../src/adapters/callback-signing.ts";
import {
  EC2_USER_DATA_LIMIT,
  encodeUserData,
  WRAPPER_MAX_OVERHEAD,
  wrapperScript,
} from "../../../../src/providers/aws/user-data.ts";
import { ProviderRequestError } from "../../../../src/providers/errors.ts";

const base = { stackId: "st-1", server: "web", publicKeys: [] as string[] };

describe("the user_data wrapper", () => {
  it("keeps user_data verbatim in a quoted here-document whose delimiter is none of its lines", () => {
    const userData = "echo $HOME '$(x)' `y`\nTEAMSTACK_USER_DATA\ncat <<EOF\nEOF\n";
    const script = wrapperScript({ ...base, userData });
    const m = /cat > "\$d"\/user-data <<'(TEAMSTACK_USER_DATA_[0-9a-f]{12})'\n([\s\S]*?)\n\1\n/.exec(script);
    expect(m?.[2]).toBe(userData.slice(0, -1));
    expect(userData.split("\n")).not.toContain(m?.[1]);
  });

  it("runs a script with a shebang as itself, and plain commands with bash", () => {
    expect(wrapperScript({ ...base, userData: "#!/usr/bin/env python3\nprint(1)" })).toContain(
      '\n"$d"/user-data < /dev/null 2>&1 | tee "$d"/user-data.log\n',
    );
    expect(wrapperScript({ ...base, userData: "echo hi" })).toContain(
      '\n/bin/bash "$d"/user-data < /dev/null',
    );
  });

  it("reports to the callback only when there is one, with the signature in a header too", () => {
    expect(wrapperScript({ ...base, userData: "true" })).not.toContain("curl -s -o /dev/null");
    const script = wrapperScript({
      ...base,
      userData: "true",
      callback: { url: "https://api.example.test/callbacks/ready/acme/st-1/web/1?sig=abc", signature: "abc" },
    });
    expect(script).toContain("url='https://api.example.test/callbacks/ready/acme/st-1/web/1?sig=abc'");
    expect(script).toContain("-H 'x-teamstack-signature: abc'");
  });

  it("refuses keys that span lines and cloud-config it cannot run", () => {
    expect(() =>
      wrapperScript({ ...base, userData: "true", publicKeys: ["ssh-ed25519 AAAA x\nrm -rf /"] }),
    ).toThrow(ProviderRequestError);
    expect(() => wrapperScript({ ...base, userData: "#cloud-config\npackages: [nginx]" })).toThrow(
      /cloud-config/,
    );
  });

  it("accepts user_data up to EC2's 16 KB once wrapped and refuses one byte more", () => {
    const overhead = Buffer.byteLength(wrapperScript({ ...base, userData: "" }), "utf8") - 1;
    const fits = "x".repeat(EC2_USER_DATA_LIMIT - overhead - 1);
    const script = Buffer.from(encodeUserData({ ...base, userData: fits }), "base64").toString("utf8");
    expect(Buffer.byteLength(script, "utf8")).toBe(EC2_USER_DATA_LIMIT);
    expect(() => encodeUserData({ ...base, userData: `${fits}y` })).toThrow(
      /user_data of server `web` is too large for EC2: 16385 bytes once rendered and wrapped/,
    );
  });

  it("adds at most WRAPPER_MAX_OVERHEAD bytes without keys, for the longest names and a 100-character base URL", () => {
    const name = "n".repeat(63);
    const target = { team: name, stackId: name, server: name, attempt: 999_999_999 };
    const secret = Buffer.alloc(32, 7);
    // The longest names, and an API base URL of 100 characters.
    const base = `https://${"h".repeat(92)}`;
    const url = callbackUrl(base, secret, target);
    const script = wrapperScript({
      stackId: name,
      server: name,
      userData: "",
      publicKeys: [],
      callback: { url, signature: callbackSignature(secret, target) },
    });
    expect(Buffer.byteLength(script, "utf8") - 1).toBeLessThanOrEqual(WRAPPER_MAX_OVERHEAD);
  });
});
