import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createEgressPolicy, parseEgressAllow, parseRange } from "../../../src/hooks/egress.ts";
import { EgressConfigError } from "../../../src/hooks/errors.ts";

const policy = createEgressPolicy();
const rule = (address: string, p = policy): string => {
  const verdict = p.check(address);
  return verdict.allowed ? "allowed" : verdict.rule;
};

describe("the default egress policy", () => {
  it.each([
    ["127.0.0.1", "loopback (127.0.0.0/8)"],
    ["127.255.255.254", "loopback (127.0.0.0/8)"],
    ["::1", "loopback (::1/128)"],
    ["0.0.0.0", "unspecified (this network) (0.0.0.0/8)"],
    ["::", "unspecified (::/128)"],
    ["10.1.2.3", "private (10.0.0.0/8)"],
    ["172.16.0.1", "private (172.16.0.0/12)"],
    ["172.31.255.255", "private (172.16.0.0/12)"],
    ["192.168.1.1", "private (192.168.0.0/16)"],
    ["fd12:3456::1", "unique local (private) (fc00::/7)"],
    ["100.64.0.1", "carrier-grade NAT (shared address space) (100.64.0.0/10)"],
    ["169.254.1.1", "link-local (169.254.0.0/16)"],
    ["fe80::1", "link-local (fe80::/10)"],
    ["fe80::1%eth0", "link-local (fe80::/10)"],
    ["169.254.169.254", "a cloud metadata address (169.254.169.254)"],
    ["169.254.170.2", "a cloud metadata address (169.254.170.2)"],
    ["100.100.100.200", "a cloud metadata address (100.100.100.200)"],
    ["fd00:ec2::254", "a cloud metadata address (fd00:ec2::254)"],
    ["224.0.0.251", "multicast (224.0.0.0/4)"],
    ["ff02::1", "multicast (ff00::/8)"],
    ["255.255.255.255", "reserved or broadcast (240.0.0.0/4)"],
    ["198.18.0.1", "benchmarking (198.18.0.0/15)"],
    ["192.0.2.1", "documentation (TEST-NET-1) (192.0.2.0/24)"],
    ["2001:db8::1", "documentation (2001:db8::/32)"],
    ["fec0::1", "site-local (deprecated) (fec0::/10)"],
    ["::ffff:127.0.0.1", "the IPv4-mapped IPv6 form of 127.0.0.1, loopback (127.0.0.0/8)"],
    ["::ffff:7f00:1", "the IPv4-mapped IPv6 form of 127.0.0.1, loopback (127.0.0.0/8)"],
    [
      "::ffff:a9fe:a9fe",
      "the IPv4-mapped IPv6 form of 169.254.169.254, a cloud metadata address (169.254.169.254)",
    ],
    ["64:ff9b::10.0.0.1", "the NAT64 form of 10.0.0.1, private (10.0.0.0/8)"],
    ["2002:7f00:1::", "the 6to4 form of 127.0.0.1, loopback (127.0.0.0/8)"],
    ["::127.0.0.1", "reserved (IPv4-compatible IPv6, deprecated) (::/96)"],
    ["64:ff9b:1::1", "local-use NAT64 (64:ff9b:1::/48)"],
    ["2001:0:4136:e378::1", "Teredo (2001::/32)"],
  ])("refuses %s as %s", (address, expected) => {
    expect(rule(address)).toBe(expected);
  });

  it.each([
    "93.184.215.14",
    "8.8.8.8",
    "172.32.0.1",
    "100.128.0.1",
    "2606:4700::1111",
    "::ffff:8.8.8.8",
    "64:ff9b::8.8.8.8",
    "2002:808:808::1",
  ])("allows the public address %s", (address) => {
    expect(rule(address)).toBe("allowed");
  });

  it("refuses a text that is not an address", () => {
    expect(rule("localhost")).toBe("not an IP address");
    expect(rule("127.1")).toBe("not an IP address");
  });
});

describe("TEAMSTACK_EGRESS_ALLOW", () => {
  it("allows the ranges it names, and the same addresses in IPv4-mapped form", () => {
    const p = createEgressPolicy(parseEgressAllow(" 127.0.0.1/32, 10.20.0.0/16 ,fd00:1::/64,192.168.7.7"));
    expect(rule("127.0.0.1", p)).toBe("allowed");
    expect(rule("::ffff:127.0.0.1", p)).toBe("allowed");
    expect(rule("127.0.0.2", p)).toBe("loopback (127.0.0.0/8)");
    expect(rule("10.20.255.1", p)).toBe("allowed");
    expect(rule("10.21.0.1", p)).toBe("private (10.0.0.0/8)");
    expect(rule("fd00:1::abcd", p)).toBe("allowed");
    expect(rule("fd00:2::1", p)).toBe("unique local (private) (fc00::/7)");
    expect(rule("192.168.7.7", p)).toBe("allowed");
    expect(rule("192.168.7.8", p)).toBe("private (192.168.0.0/16)");
  });

  it("opens a metadata address only when an entry names it, not through a range that contains it", () => {
    const wide = createEgressPolicy(parseEgressAllow("169.254.0.0/16,100.64.0.0/10,0.0.0.0/0"));
    expect(rule("169.254.1.1", wide)).toBe("allowed");
    expect(rule("169.254.169.254", wide)).toBe("a cloud metadata address (169.254.169.254)");
    expect(rule("100.100.100.200", wide)).toBe("a cloud metadata address (100.100.100.200)");
    const named = createEgressPolicy(parseEgressAllow("169.254.169.254/32"));
    expect(rule("169.254.169.254", named)).toBe("allowed");
  });

  it("reads an IPv4-mapped range as the IPv4 range it maps", () => {
    const p = createEgressPolicy(parseEgressAllow("::ffff:10.0.0.0/104"));
    expect(rule("10.9.9.9", p)).toBe("allowed");
  });

  it("is empty when unset or blank", () => {
    expect(parseEgressAllow(undefined)).toEqual([]);
    expect(parseEgressAllow("  ")).toEqual([]);
  });

  it("names every bad entry, why it is bad and what is expected", () => {
    let error: unknown;
    try {
      parseEgressAllow("127.0.0.1/32,10.0.0.1/8,localhost,10.0.0.0/33,fd00::/129,,0177.0.0.1,1.2.3.4/8/9");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(EgressConfigError);
    expect((error as Error).name).toBe("EgressConfigError");
    expect((error as Error).message).toBe(
      "TEAMSTACK_EGRESS_ALLOW has 7 bad entries: " +
        "`10.0.0.1/8`: it has bits set beyond its /8 prefix; did you mean 10.0.0.0/8?; " +
        "`localhost`: it is not an IPv4 or IPv6 address; " +
        "`10.0.0.0/33`: the prefix length must be a number from 0 to 32 for an IPv4 range; " +
        "`fd00::/129`: the prefix length must be a number from 0 to 128 for an IPv6 range; " +
        "an empty entry (two commas in a row, or a comma at an end); " +
        "`0177.0.0.1`: it is not an IPv4 or IPv6 address; " +
        "`1.2.3.4/8/9`: it has more than one `/`. " +
        "Expected IP addresses or CIDR ranges separated by commas, like 127.0.0.1/32,10.20.0.0/16,fd00:1::/64",
    );
  });

  it("suggests the network address of an IPv6 range with host bits set", () => {
    expect(parseRange("fd00:1::5/64")).toBe(
      "it has bits set beyond its /64 prefix; did you mean fd00:1::/64?",
    );
  });
});

describe("address ranges, property-checked", () => {
  const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join("."));

  it("allows every IPv4 address inside an allowed range and judges one outside by the default", () => {
    fc.assert(
      fc.property(v4, fc.integer({ min: 8, max: 32 }), v4, (address, prefix, other) => {
        const value = address.split(".").reduce((n, p) => n * 256 + Number(p), 0);
        const base = prefix === 32 ? value : value - (value % 2 ** (32 - prefix));
        const text = [24, 16, 8, 0].map((s) => Math.floor(base / 2 ** s) % 256).join(".");
        const allowed = createEgressPolicy(parseEgressAllow(`${text}/${prefix}`));
        const inside = allowed.check(address);
        const metadata = createEgressPolicy().check(address);
        // A metadata address stays refused unless the /32 names it.
        if (!metadata.allowed && metadata.rule.startsWith("a cloud metadata") && prefix < 32) {
          expect(inside.allowed).toBe(false);
        } else {
          expect(inside.allowed).toBe(true);
        }
        const otherValue = other.split(".").reduce((n, p) => n * 256 + Number(p), 0);
        if (Math.floor(otherValue / 2 ** (32 - prefix)) !== Math.floor(value / 2 ** (32 - prefix))) {
          expect(allowed.check(other)).toEqual(createEgressPolicy().check(other));
        }
      }),
    );
  });

  it("judges an IPv4-mapped IPv6 address as its IPv4 address", () => {
    fc.assert(
      fc.property(v4, (address) => {
        const plain = createEgressPolicy().check(address);
        const mapped = createEgressPolicy().check(`::ffff:${address}`);
        expect(mapped.allowed).toBe(plain.allowed);
      }),
    );
  });
});
