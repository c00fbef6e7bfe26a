import { createHash } from "node:crypto";
import type { Executions } from "../ports/orchestration.ts";
import {
  ON_MEMBER_LEFT,
  type OnMemberLeft,
  type StackKey,
  type StackRecord,
  type StackRuns,
  type TeamDirectory,
} from "../ports/store.ts";
import { badRequest, conflict } from "./errors.ts";
import type { Orchestrator } from "./service.ts";

/**
 * Offboarding: a `Team Member Left` event (EventBridge, `POST /events`, `teamstack events put`)
 * applies the team's `on_member_left` (the team policy; `destroy` by default, or `stop`, or
 * `keep`) to each of the member's stacks that is not DESTROYED, and marks the member as left.
 *
 * Idempotent per event id: each stack it acts on gets one `MemberLeft` stack event naming the
 * event, written once the action has started; a redelivery finds it and starts nothing. The
 * execution it starts is named from the stack and the event id, so that a start repeated after a
 * crash between the start and the stack event is one execution (StartExecution with the same name;
 * the local orchestrator the same). A stack already being destroyed is left to that run. A stack
 * busy with another run (provisioning) is not touched, and the event then fails with 409 naming it,
 * so that EventBridge delivers it again (the stacks it did act on are not acted on twice).
 */

export const MEMBER_LEFT = "Team Member Left";

export interface MemberLeftEvent {
  readonly id: string;
  readonly source: string;
  readonly "detail-type": string;
  readonly detail: {
    readonly team: string;
    readonly member: string;
    readonly userdata?: Readonly<Record<string, string>>;
  };
}

/** What the event did to one stack. */
export interface StackOffboarding {
  readonly stackId: string;
  readonly action: OnMemberLeft;
  /**
   * `started`: a destroy (or stop) execution was started; `kept`: left as it is (`keep`);
   * `already`: this event acted on it before, or another run is destroying it.
   */
  readonly outcome: "started" | "kept" | "already";
  readonly executionName?: string;
}

export interface MemberLeftResult {
  readonly team: string;
  readonly member: string;
  readonly onMemberLeft: OnMemberLeft;
  readonly stacks: readonly StackOffboarding[];
}

export interface OffboardDeps {
  readonly store: StackRuns & TeamDirectory;
  readonly orchestrator: Orchestrator;
  readonly executions: Executions;
  readonly now: () => Date;
}

/** The team policy's `on_member_left`, checked: what `PUT /teams/{team}/policy` accepts. */
export function checkOnMemberLeft(value: unknown): OnMemberLeft {
  if (typeof value === "string" && (ON_MEMBER_LEFT as readonly string[]).includes(value))
    return value as OnMemberLeft;
  const found = typeof value === "string" ? `\`${value.slice(0, 64)}\`` : JSON.stringify(value);
  throw badRequest(`on_member_left: expected destroy, stop or keep, found ${found}`);
}

/** The deterministic execution name of what this event does to a stack. */
export function offboardExecutionName(stackId: string, eventId: string, action: "destroy" | "stop"): string {
  return `${stackId}-left-${action}-${createHash("sha256").update(eventId).digest("hex").slice(0, 12)}`;
}

/** The tag a stack's MemberLeft event carries, by which a redelivery knows it acted. */
const eventTag = (eventId: string) => `(event ${eventId})`;

/**
 * Applies the team's on_member_left to each of the member's stacks that is not DESTROYED.
 * @throws ApiError 409 naming the stacks another run holds (after acting on the others).
 */
export async function offboardMember(deps: OffboardDeps, event: MemberLeftEvent): Promise<MemberLeftResult> {
  const { team, member } = event.detail;
  if (event.detail.userdata !== undefined)
    throw badRequest("a Team Member Left event carries no `userdata`: only `team` and `member`");
  const action = (await deps.store.getTeamPolicy(team))?.onMemberLeft ?? "destroy";
  const at = deps.now().toISOString();
  const known = await deps.store.getMember(team, member);
  if (known?.left?.event !== event.id) {
    await deps.store.putMember({
      team,
      member,
      data: known?.data ?? {},
      updatedAt: at,
      left: { at, event: event.id },
    });
  }
  const stacks = (await deps.store.listStacks(team)).filter(
    (s) => s.member === member && s.status !== "DESTROYED",
  );
  const out: StackOffboarding[] = [];
  const busy: string[] = [];
  // One at a time: a member has a few stacks, and each start returns at once.
  for (const stack of stacks) {
    const key: StackKey = { team, stackId: stack.stackId };
    const tag = eventTag(event.id);
    if ((await deps.store.listEvents(key)).some((e) => e.type === "MemberLeft" && e.message.includes(tag))) {
      out.push({ stackId: stack.stackId, action, outcome: "already" });
      continue;
    }
    const note = (what: string) =>
      deps.store.appendEvent(key, {
        type: "MemberLeft",
        message: `member ${member} left team ${team} ${tag}: ${what} (on_member_left: ${action})`,
      });
    if (action === "keep") {
      await note("stack kept");
      out.push({ stackId: stack.stackId, action, outcome: "kept" });
      continue;
    }
    const running = stack.lock ? await deps.executions.isRunning(stack.lock.execution) : false;
    if (running && action === "destroy" && stack.status === "DESTROYING") {
      await note(`already being destroyed by run ${stack.lock?.run}`);
      out.push({ stackId: stack.stackId, action, outcome: "already" });
      continue;
    }
    if (running) {
      busy.push(describeBusy(stack));
      continue;
    }
    const status: string = stack.status;
    if (action === "stop" && (status === "STOPPED" || status === "STOPPING")) {
      await note(`already ${status.toLowerCase()}`);
      out.push({ stackId: stack.stackId, action, outcome: "already" });
      continue;
    }
    const executionName = offboardExecutionName(stack.stackId, event.id, action);
    if (action === "destroy") await deps.orchestrator.start("destroy", key, executionName);
    else await deps.orchestrator.start("power", key, executionName, { action: "stop" });
    await note(action === "destroy" ? `destroying it (${executionName})` : `stopping it (${executionName})`);
    out.push({ stackId: stack.stackId, action, outcome: "started", executionName });
  }
  if (busy.length > 0) {
    throw conflict(
      `member \`${member}\` left team \`${team}\`, but ${busy.join("; ")}; deliver the event again once ${busy.length === 1 ? "it ends" : "they end"} (${out.length} other stack${out.length === 1 ? "" : "s"} handled)`,
    );
  }
  return { team, member, onMemberLeft: action, stacks: out };
}

function describeBusy(stack: StackRecord): string {
  return `stack \`${stack.stackId}\` is busy: run ${stack.lock?.run} (${stack.status.toLowerCase()}, execution ${stack.lock?.execution}) holds it`;
}

/** One line for people about what an event did (the CLI's `events put`). */
export function describeMemberLeft(result: MemberLeftResult): string {
  if (result.stacks.length === 0)
    return `member ${result.member} left team ${result.team}: no stack to act on`;
  const each = result.stacks.map((s) => `${s.stackId} ${s.outcome === "started" ? s.action : s.outcome}`);
  return `member ${result.member} left team ${result.team} (on_member_left: ${result.onMemberLeft}): ${each.join(", ")}`;
}
