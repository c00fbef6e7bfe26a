import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { createFileExclusive, readJsonFile } from "../../shared/state-files.ts";
import { delay } from "../timing.ts";
import { SandboxBusyError } from "./errors.ts";
import { isAlive, type ProcessIdentity, selfIdentity } from "./proc.ts";

interface LockOwner extends ProcessIdentity {
  readonly nonce: string;
}

/**
 * Runs `fn` holding the lock file at `path`, which keeps two processes from creating or
 * destroying the same sandbox at once. A lock whose owner process has died (a SIGKILLed
 * teamstack) is stale and is taken over.
 * @throws SandboxBusyError when a live process holds the lock for longer than `waitMs`.
 */
export async function withLock<T>(
  path: string,
  what: string,
  waitMs: number,
  fn: () => Promise<T>,
): Promise<T> {
  const owner: LockOwner = { ...(await selfIdentity()), nonce: randomBytes(8).toString("hex") };
  const deadline = Date.now() + waitMs;
  // Locks are held for the few hundred milliseconds a create or destroy takes: a short,
  // growing pause between tries is cheaper than watching the directory.
  for (let pause = 10; ; pause = Math.min(pause * 2, 200)) {
    if (await createFileExclusive(path, JSON.stringify(owner))) break;
    const holder = await readJsonFile<LockOwner>(path).catch(() => undefined);
    if (holder && !(await isAlive(holder))) {
      const again = await readJsonFile<LockOwner>(path).catch(() => undefined);
      if (again?.nonce === holder.nonce) await rm(path, { force: true });
      continue;
    }
    if (Date.now() >= deadline) {
      throw new SandboxBusyError(
        `${what} is busy: process ${holder?.pid ?? "?"} has held its lock (${path}) for more than ${waitMs} ms`,
      );
    }
    await delay(pause);
  }
  try {
    return await fn();
  } finally {
    const current = await readJsonFile<LockOwner>(path).catch(() => undefined);
    if (current?.nonce === owner.nonce) await rm(path, { force: true });
  }
}
