import { readFile } from "node:fs/promises";
import { delay } from "../timing.ts";

/** A process as the host sees it, pinned by its start time so that a reused PID is not mistaken for it. */
export interface ProcessIdentity {
  readonly pid: number;
  /** Field 22 of /proc/PID/stat: clock ticks after boot at which the process started. */
  readonly startTime: string;
}

export interface ProcStat {
  readonly state: string;
  readonly ppid: number;
  readonly startTime: string;
}

/** Parses /proc/PID/stat; `undefined` when there is no such process. */
export async function readProcStat(pid: number | "self"): Promise<ProcStat | undefined> {
  let line: string;
  try {
    line = await readFile(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: the fields that follow start
  // after its last closing parenthesis.
  const fields = line.slice(line.lastIndexOf(")") + 2).split(" ");
  const [state, ppid] = fields;
  const startTime = fields[19];
  if (state === undefined || ppid === undefined || startTime === undefined) return undefined;
  return { state, ppid: Number(ppid), startTime };
}

/** This process's identity. */
export async function selfIdentity(): Promise<ProcessIdentity> {
  const stat = await readProcStat("self");
  return { pid: process.pid, startTime: stat?.startTime ?? "" };
}

/** True while the process exists, is the one identified (same start time) and has not exited (zombie). */
export async function isAlive(id: ProcessIdentity): Promise<boolean> {
  const stat = await readProcStat(id.pid);
  return stat !== undefined && stat.startTime === id.startTime && stat.state !== "Z" && stat.state !== "X";
}

/**
 * Sends SIGKILL to the identified process (if it is still that process) and waits until it has exited.
 * @returns false when the process was still alive after `timeoutMs`.
 */
export async function killAndWait(id: ProcessIdentity, timeoutMs: number): Promise<boolean> {
  // PID 0 and below would signal process groups, 1 is init: never ours to kill.
  if (!Number.isInteger(id.pid) || id.pid <= 1 || !(await isAlive(id))) return true;
  try {
    process.kill(id.pid, "SIGKILL");
  } catch {
    return !(await isAlive(id));
  }
  // No process handle to wait on (it may not be our child): poll /proc with a short, growing pause.
  const deadline = Date.now() + timeoutMs;
  for (let pause = 2; Date.now() < deadline; pause = Math.min(pause * 2, 50)) {
    if (!(await isAlive(id))) return true;
    await delay(pause);
  }
  return !(await isAlive(id));
}

/**
 * Waits until the identified process has exited (or is a zombie), without signalling it.
 * @returns false when it was still alive after `timeoutMs`.
 */
export async function waitForExit(id: ProcessIdentity, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (let pause = 2; Date.now() < deadline; pause = Math.min(pause * 2, 50)) {
    if (!(await isAlive(id))) return true;
    await delay(pause);
  }
  return !(await isAlive(id));
}
