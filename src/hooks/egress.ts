import type { LookupAddress, LookupOptions } from "node:dns";
import { lookup as dnsLookup, type Resolver } from "node:dns/promises";
import { isIP } from "node:net";
import { EgressConfigError, EgressRefusedError } from "./errors.ts";

/** The variable an operator allows address ranges with, named in every refusal. */
export const EGRESS_ALLOW_VARIABLE = "TEAMSTACK_EGRESS_ALLOW";

/** An IP address as a number: 32 bits for IPv4, 128 for IPv6. */
interface Address {
  readonly family: 4 | 6;
  readonly value: bigint;
}

/** An address range: `10.0.0.0/8`, `fc00::/7`. */
export interface AddressRange {
  readonly family: 4 | 6;
  readonly base: bigint;
  readonly prefix: number;
  /** As written in messages: `127.0.0.0/8`. */
  readonly text: string;
}

interface Rule {
  readonly range: AddressRange;
  /** What the range is, in a message: `loopback`, `private`. */
  readonly label: string;
}

/** The answer for one address: allowed, or refused with the rule that refuses it. */
export type Verdict =
  | { readonly allowed: true }
  | {
      readonly allowed: false;
      /** Why, for a message: `loopback (127.0.0.0/8)`. */
      readonly rule: string;
    };

const bits = (family: 4 | 6): number => (family === 4 ? 32 : 128);

/** `::ffff:0:0/96`, IPv4-mapped IPv6 addresses (written out: parseRange itself uses it). */
const MAPPED: AddressRange = { family: 6, base: 0xffffn << 32n, prefix: 96, text: "::ffff:0:0/96" };

function parseV4(text: string): bigint | undefined {
  // Strict dotted quad only (net.isIPv4 refuses leading zeros, so `010.0.0.1` is not octal here).
  if (isIP(text) !== 4) return undefined;
  return text.split(".").reduce((n, part) => (n << 8n) | BigInt(Number(part)), 0n);
}

function parseV6(text: string): bigint | undefined {
  if (isIP(text) !== 6) return undefined;
  // A trailing dotted quad (`::ffff:127.0.0.1`) is the last two groups.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  let hex = text;
  if (dotted) {
    const v4 = parseV4(dotted[1] as string);
    if (v4 === undefined) return undefined;
    hex = `${text.slice(0, dotted.index)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const groups = (part: string): bigint[] =>
    part === "" ? [] : part.split(":").map((g) => BigInt(Number.parseInt(g, 16)));
  const gap = hex.indexOf("::");
  let words: bigint[];
  if (gap >= 0) {
    const left = groups(hex.slice(0, gap));
    const right = groups(hex.slice(gap + 2));
    words = [...left, ...Array<bigint>(8 - left.length - right.length).fill(0n), ...right];
  } else {
    words = groups(hex);
  }
  if (words.length !== 8) return undefined;
  return words.reduce((n, w) => (n << 16n) | w, 0n);
}

/** Parses an IPv4 or IPv6 address as DNS or a socket gives it (a `%zone` suffix is dropped). */
function parseAddress(text: string): Address | undefined {
  const plain = text.replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  const v4 = parseV4(plain);
  if (v4 !== undefined) return { family: 4, value: v4 };
  const v6 = parseV6(plain);
  return v6 !== undefined ? { family: 6, value: v6 } : undefined;
}

function formatV4(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join(".");
}

function mask(family: 4 | 6, prefix: number): bigint {
  const width = BigInt(bits(family));
  return ((1n << width) - 1n) ^ ((1n << (width - BigInt(prefix))) - 1n);
}

function contains(range: AddressRange, address: Address): boolean {
  return range.family === address.family && (address.value & mask(range.family, range.prefix)) === range.base;
}

/**
 * Parses one range (`10.0.0.0/8`, `fd00::/8`) or one address (a /32 or /128).
 * @returns the range, or the reason it is not one.
 */
export function parseRange(entry: string): AddressRange | string {
  const [addressText = "", prefixText, extra] = entry.split("/");
  if (extra !== undefined) return "it has more than one `/`";
  const address = parseAddress(addressText);
  if (address === undefined || /[%[\]]/.test(addressText)) return "it is not an IPv4 or IPv6 address";
  const width = bits(address.family);
  let prefix = width;
  if (prefixText !== undefined) {
    if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > width) {
      return `the prefix length must be a number from 0 to ${width} for an IPv${address.family} range`;
    }
    prefix = Number(prefixText);
  }
  const base = address.value & mask(address.family, prefix);
  if (base !== address.value) {
    const fixed = address.family === 4 ? formatV4(base) : formatV6(base);
    return `it has bits set beyond its /${prefix} prefix; did you mean ${fixed}/${prefix}?`;
  }
  // An IPv4-mapped range is written as the IPv4 range it maps, since addresses are checked so.
  if (address.family === 6 && prefix >= 96 && contains(MAPPED, address)) {
    return { family: 4, base: base & 0xffffffffn, prefix: prefix - 96, text: entry };
  }
  return { family: address.family, base, prefix, text: entry };
}

function formatV6(value: bigint): string {
  const words = Array.from({ length: 8 }, (_, i) => (value >> BigInt(112 - 16 * i)) & 0xffffn);
  // The longest run of two or more zero groups becomes `::`.
  let best = { at: -1, length: 1 };
  for (let i = 0; i < 8; i++) {
    let n = 0;
    while (i + n < 8 && words[i + n] === 0n) n++;
    if (n > best.length) best = { at: i, length: n };
  }
  const hex = words.map((w) => w.toString(16));
  if (best.at < 0) return hex.join(":");
  return `${hex.slice(0, best.at).join(":")}::${hex.slice(best.at + best.length).join(":")}`;
}

function range(text: string): AddressRange {
  const parsed = parseRange(text);
  if (typeof parsed === "string") throw new Error(`built-in range ${text}: ${parsed}`);
  return parsed;
}

const NAT64 = range("64:ff9b::/96");
const SIX_TO_FOUR = range("2002::/16");

/**
 * Addresses of cloud instance metadata services. They stay refused even when an allowed range
 * contains them: only an allow entry naming the address itself (a /32 or /128) opens one.
 */
const METADATA: readonly Rule[] = [
  "169.254.169.254", // AWS, GCP, Azure, OpenStack, DigitalOcean, ...
  "169.254.170.2", // ECS task metadata and credentials
  "100.100.100.200", // Alibaba Cloud
  "192.0.0.192", // Oracle Cloud (classic)
  "fd00:ec2::254", // AWS IMDS over IPv6
].map((text) => ({ range: range(text), label: "a cloud metadata address" }));

/** Refused unless an operator allows them, first match names the rule. */
const DENIED: readonly Rule[] = [
  ["0.0.0.0/8", "unspecified (this network)"],
  ["10.0.0.0/8", "private"],
  ["100.64.0.0/10", "carrier-grade NAT (shared address space)"],
  ["127.0.0.0/8", "loopback"],
  ["169.254.0.0/16", "link-local"],
  ["172.16.0.0/12", "private"],
  ["192.0.0.0/24", "reserved for IETF protocol assignments"],
  ["192.0.2.0/24", "documentation (TEST-NET-1)"],
  ["192.88.99.0/24", "reserved (6to4 relay anycast)"],
  ["192.168.0.0/16", "private"],
  ["198.18.0.0/15", "benchmarking"],
  ["198.51.100.0/24", "documentation (TEST-NET-2)"],
  ["203.0.113.0/24", "documentation (TEST-NET-3)"],
  ["224.0.0.0/4", "multicast"],
  ["240.0.0.0/4", "reserved or broadcast"],
  ["::/128", "unspecified"],
  ["::1/128", "loopback"],
  ["::/96", "reserved (IPv4-compatible IPv6, deprecated)"],
  ["64:ff9b:1::/48", "local-use NAT64"],
  ["100::/64", "discard-only"],
  ["2001::/32", "Teredo"],
  ["2001:db8::/32", "documentation"],
  ["3fff::/20", "documentation"],
  ["fc00::/7", "unique local (private)"],
  ["fe80::/10", "link-local"],
  ["fec0::/10", "site-local (deprecated)"],
  ["ff00::/8", "multicast"],
].map(([text, label]) => ({ range: range(text as string), label: label as string }));

/**
 * Parses TEAMSTACK_EGRESS_ALLOW: ranges or addresses separated by commas (spaces around them are
 * ignored); empty means none.
 * @throws EgressConfigError naming every bad entry and what is expected.
 */
export function parseEgressAllow(text: string | undefined): AddressRange[] {
  if (text === undefined || text.trim() === "") return [];
  const ranges: AddressRange[] = [];
  const problems: string[] = [];
  for (const entry of text.split(",").map((e) => e.trim())) {
    if (entry === "") {
      problems.push("an empty entry (two commas in a row, or a comma at an end)");
      continue;
    }
    const parsed = parseRange(entry);
    if (typeof parsed === "string") problems.push(`\`${entry.slice(0, 80)}\`: ${parsed}`);
    else ranges.push(parsed);
  }
  if (problems.length > 0) {
    throw new EgressConfigError(
      `${EGRESS_ALLOW_VARIABLE} has ${problems.length === 1 ? "a bad entry" : `${problems.length} bad entries`}: ${problems.join("; ")}. Expected IP addresses or CIDR ranges separated by commas, like 127.0.0.1/32,10.20.0.0/16,fd00:1::/64`,
    );
  }
  return ranges;
}

/** Decides which addresses a template-steered request may connect to. */
export interface EgressPolicy {
  /** The verdict for one address (IPv4 or IPv6, as DNS or a URL gives it). */
  check(address: string): Verdict;
}

/**
 * The egress policy: loopback, link-local, private, CGNAT, multicast, unspecified, reserved,
 * benchmarking and documentation ranges and the cloud metadata addresses are refused, unless an
 * `allow` range contains the address (a metadata address must be allowed by name). An IPv6
 * address that embeds an IPv4 one (IPv4-mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4
 * `2002::/16`) is judged as that IPv4 address, since that is where it leads.
 */
export function createEgressPolicy(allow: readonly AddressRange[] = []): EgressPolicy {
  const judge = (address: Address): Verdict => {
    const metadata = METADATA.find((r) => contains(r.range, address));
    if (metadata) {
      const named = allow.some((r) => r.prefix === bits(r.family) && contains(r, address));
      return named ? { allowed: true } : { allowed: false, rule: describe(metadata) };
    }
    if (allow.some((r) => contains(r, address))) return { allowed: true };
    const denied = DENIED.find((r) => contains(r.range, address));
    return denied ? { allowed: false, rule: describe(denied) } : { allowed: true };
  };
  return {
    check(text) {
      const address = parseAddress(text);
      if (address === undefined) return { allowed: false, rule: "not an IP address" };
      const embedded = embeddedV4(address);
      if (embedded) {
        const verdict = judge({ family: 4, value: embedded.value });
        return verdict.allowed
          ? verdict
          : {
              allowed: false,
              rule: `the ${embedded.form} form of ${formatV4(embedded.value)}, ${verdict.rule}`,
            };
      }
      return judge(address);
    },
  };
}

function describe(rule: Rule): string {
  return `${rule.label} (${rule.range.text})`;
}

function embeddedV4(address: Address): { form: string; value: bigint } | undefined {
  if (address.family !== 6) return undefined;
  if (contains(MAPPED, address)) return { form: "IPv4-mapped IPv6", value: address.value & 0xffffffffn };
  if (contains(NAT64, address)) return { form: "NAT64", value: address.value & 0xffffffffn };
  if (contains(SIX_TO_FOUR, address)) return { form: "6to4", value: (address.value >> 80n) & 0xffffffffn };
  return undefined;
}

/** Finds the addresses of a host name: every A and AAAA answer. */
export type Resolve = (hostname: string) => Promise<readonly string[]>;

/** The system resolver (getaddrinfo: /etc/hosts, then DNS), every answer in its order. */
export const systemResolve: Resolve = async (hostname) =>
  (await dnsLookup(hostname, { all: true, order: "verbatim" })).map((a) => a.address);

/**
 * Resolves through a `dns.promises.Resolver` (its own servers): the A and AAAA answers. A name
 * with neither is ENOTFOUND, as the system resolver says.
 */
export function resolverResolve(resolver: Resolver): Resolve {
  return async (hostname) => {
    const [v4, v6] = await Promise.allSettled([resolver.resolve4(hostname), resolver.resolve6(hostname)]);
    const addresses = [
      ...(v4.status === "fulfilled" ? v4.value : []),
      ...(v6.status === "fulfilled" ? v6.value : []),
    ];
    if (addresses.length > 0) return addresses;
    const reason = v4.status === "rejected" ? v4.reason : v6.status === "rejected" ? v6.reason : undefined;
    throw Object.assign(new Error(`cannot resolve ${hostname}`), {
      code: (reason as { code?: string } | undefined)?.code ?? "ENOTFOUND",
      cause: reason,
    });
  };
}

/** Says who steered a request, for a refusal: `webhook URL host \`x\``. */
export interface EgressTarget {
  /** `webhook URL`, `Slack webhook_url`, `webhook redirect`. */
  readonly what: string;
  /** The URL's host name, as the URL gives it (never its user, path or query). */
  readonly host: string;
}

/**
 * The refusal for an address: names the host, the address it leads to, and the rule.
 */
export function refusal(target: EgressTarget, address: string, rule: string): EgressRefusedError {
  const where =
    target.host.replace(/^\[|\]$/g, "") === address
      ? `${target.what} host ${address}`
      : `${target.what} host \`${target.host}\` resolves to ${address}, which`;
  return new EgressRefusedError(
    `${where} is ${rule}: refused by teamstack's egress policy; an operator may allow a range with ${EGRESS_ALLOW_VARIABLE}`,
    address,
  );
}

/**
 * Checks a host before any connection: an IP literal is judged as it stands, a name is resolved
 * and every answer judged. Used where nothing connects (a redirect's Location); a connection
 * uses `guardedLookup`, so that the address judged is the address connected to.
 * @throws EgressRefusedError when the literal, or every answer, is refused.
 */
export async function checkHost(policy: EgressPolicy, resolve: Resolve, target: EgressTarget): Promise<void> {
  const literal = target.host.replace(/^\[|\]$/g, "");
  const addresses = isIP(literal) ? [literal] : await resolve(literal);
  allowedOf(policy, target, addresses);
}

/** The allowed addresses among `addresses`; throws the first refusal when none is. */
function allowedOf(policy: EgressPolicy, target: EgressTarget, addresses: readonly string[]): string[] {
  const allowed: string[] = [];
  let first: EgressRefusedError | undefined;
  for (const address of addresses) {
    const verdict = policy.check(address);
    if (verdict.allowed) allowed.push(address);
    else first ??= refusal(target, address, verdict.rule);
  }
  if (allowed.length === 0) {
    throw first ?? new EgressRefusedError(`${target.what} host \`${target.host}\` has no address`, "");
  }
  return allowed;
}

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * A `lookup` for `net.connect` (and so for http.request and https.request) that resolves the
 * host, drops every answer the policy refuses, and hands the socket only the allowed ones: the
 * address checked is the address connected to, so a DNS answer that changes between a check and
 * the connect cannot slip through. When no answer is allowed, the connection fails with the
 * refusal (an EgressRefusedError) before any packet is sent to the host.
 */
export function guardedLookup(policy: EgressPolicy, resolve: Resolve, target: EgressTarget) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    resolve(hostname).then(
      (addresses) => {
        let allowed: string[];
        try {
          allowed = allowedOf(policy, { ...target, host: hostname }, addresses);
        } catch (error) {
          callback(error as NodeJS.ErrnoException, []);
          return;
        }
        const family = options.family === "IPv4" ? 4 : options.family === "IPv6" ? 6 : options.family;
        const entries = allowed
          .map((address) => ({ address, family: isIP(address) }))
          .filter((a) => !family || a.family === family);
        if (entries.length === 0) {
          const error = Object.assign(new Error(`no IPv${family} address for ${hostname}`), {
            code: "ENOTFOUND",
          });
          callback(error, []);
          return;
        }
        if (options.all) callback(null, entries);
        else callback(null, (entries[0] as LookupAddress).address, (entries[0] as LookupAddress).family);
      },
      (error: unknown) => callback(error as NodeJS.ErrnoException, []),
    );
  };
}
