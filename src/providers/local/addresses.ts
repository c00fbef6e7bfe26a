import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { createFileExclusive, hashOf, isErrno, readJsonFile } from "../../shared/state-files.ts";
import { AddressExhaustedError } from "./errors.ts";

/**
 * Loopback addresses for sandboxes: 127.x.y.z with x >= 1, so never 127.0.0.0/16 (127.0.0.1,
 * Debian's 127.0.1.1, systemd-resolved's 127.0.0.53), and z in 1..254.
 *
 * A server's address is derived from (stack id, server name): candidate 0 is the hash of the
 * pair, candidate n the hash with n added. A lease file per address under
 * `<stateDir>/addresses/` records its owner; it is created atomically, so two servers that hash
 * to the same address (or two processes racing) cannot both take it, and the loser moves on to
 * its next candidate. The same server always finds its own lease again.
 */

const MAX_CANDIDATES = 256;

interface Lease {
  readonly stackId: string;
  readonly server: string;
}

/** The `n`th candidate address of a server (0 first). */
export function candidateAddress(stackId: string, server: string, n: number): string {
  const hash = hashOf("local-ip", stackId, server, String(n));
  const byte = (i: number): number => Number.parseInt(hash.slice(i * 2, i * 2 + 2), 16);
  return `127.${1 + (byte(0) % 255)}.${byte(1)}.${1 + (byte(2) % 254)}`;
}

function leasePath(stateDir: string, address: string): string {
  return join(stateDir, "addresses", address);
}

/**
 * Returns the server's address, taking a lease on it if it has none yet.
 * @throws AddressExhaustedError when every candidate is taken by another server.
 */
export async function leaseAddress(stateDir: string, stackId: string, server: string): Promise<string> {
  const mine = JSON.stringify({ stackId, server } satisfies Lease);
  for (let n = 0; n < MAX_CANDIDATES; n++) {
    const address = candidateAddress(stackId, server, n);
    const path = leasePath(stateDir, address);
    if (await createFileExclusive(path, mine)) return address;
    const owner = await readJsonFile<Lease>(path);
    if (owner?.stackId === stackId && owner.server === server) return address;
  }
  throw new AddressExhaustedError(
    `cannot give server \`${server}\` of stack \`${stackId}\` a loopback address: its ${MAX_CANDIDATES} candidates are all leased (see ${join(stateDir, "addresses")})`,
  );
}

/** Releases the server's lease on `address`; a lease held by another server is left alone. */
export async function releaseAddress(
  stateDir: string,
  address: string,
  stackId: string,
  server: string,
): Promise<void> {
  const path = leasePath(stateDir, address);
  const owner = await readJsonFile<Lease>(path);
  if (owner?.stackId === stackId && owner.server === server) await rm(path, { force: true });
}

/** Every address leased to the server (normally one), for cleaning up after a crash. */
export async function leasedAddresses(stateDir: string, stackId: string, server: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(join(stateDir, "addresses"));
  } catch (err) {
    if (isErrno(err, "ENOENT")) return [];
    throw err;
  }
  const found: string[] = [];
  for (const name of names) {
    if (!/^127\.\d+\.\d+\.\d+$/.test(name)) continue;
    const owner = await readJsonFile<Lease>(leasePath(stateDir, name));
    if (owner?.stackId === stackId && owner.server === server) found.push(name);
  }
  return found;
}
