/**
 * Host details an answer must not carry: the API serves untrusted members, and the paths of the
 * host's files and the ids of its processes help whoever attacks it. The operator's log keeps them.
 */

/** A host path an answer shows by a name instead (the state directory as `$STATE_DIR`). */
export interface HostPath {
  readonly path: string;
  readonly name: string;
}

/** `local:PID:START:UUID` (a local execution id) names the process that runs it; the UUID is enough. */
const LOCAL_EXECUTION = /\blocal:\d+:\d+:([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b/g;
/** "process 1234", "pid 1234" in teamstack's own messages. */
const PROCESS_ID = /\b(process|pid) \d+\b/gi;

/** Fields whose text is a member's own (a hook's or a script's output): only paths are hidden there. */
const OWN_TEXT = new Set(["output"]);

function hideInText(text: string, paths: readonly HostPath[], ownText: boolean): string {
  let out = text;
  for (const p of paths) if (p.path.length > 1) out = out.replaceAll(p.path, p.name);
  out = out.replace(LOCAL_EXECUTION, "local:$1");
  return ownText ? out : out.replace(PROCESS_ID, "$1 (id withheld)");
}

/**
 * A copy of an answer's value with host paths named, and process ids left out of local execution
 * ids and of teamstack's messages.
 */
export function hideHostDetails(value: unknown, paths: readonly HostPath[], key = ""): unknown {
  if (typeof value === "string") return hideInText(value, paths, OWN_TEXT.has(key));
  if (Array.isArray(value)) return value.map((v) => hideHostDetails(v, paths, key));
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      Object.defineProperty(out, k, {
        value: hideHostDetails(v, paths, k),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return value;
}
