/** Which actions apply to a stack in a status (the API refuses the others; the console hides them). */

export type StackAction = "rerun" | "update" | "stop" | "start" | "extend" | "destroy";

const BUSY = new Set(["RUNNING", "DESTROYING", "STOPPING", "STARTING"]);

export function actionsFor(stack: {
  readonly status: string;
  readonly template?: { readonly name: string | null } | string | null;
  readonly expiresAt?: string | undefined;
  readonly stopsAt?: string | undefined;
}): ReadonlySet<StackAction> {
  const out = new Set<StackAction>();
  const { status } = stack;
  if (BUSY.has(status) || status === "DESTROYED") return out;
  const templateName = typeof stack.template === "object" ? stack.template?.name : stack.template;
  const timed = stack.expiresAt !== undefined || stack.stopsAt !== undefined;
  if (status === "STOPPED") {
    out.add("start");
  } else {
    out.add("rerun");
    if (templateName) out.add("update");
    if (status === "SUCCEEDED") out.add("stop");
  }
  if (timed) out.add("extend");
  out.add("destroy");
  return out;
}

/** True while a run holds the stack (its page follows it). */
export const isBusy = (status: string) => BUSY.has(status);
