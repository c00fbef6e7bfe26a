import type { ChangeSet } from "../core/change-set.ts";
import type { StackEvent } from "../ports/store.ts";
import type { ConsoleService } from "./console.ts";
import type { Infer } from "./json-schema.ts";
import type { MemberLeftResult } from "./offboard.ts";
import type { RolloutService } from "./rollouts.ts";
import type * as S from "./schemas.ts";
import type { StackService } from "./service.ts";

/**
 * Type-level only (nothing here runs): each view the service returns must be exactly the type its
 * schema in schemas.ts describes, property for property, optional where the schema does not
 * require it. When code and schema disagree, `npm run typecheck` fails here and names the view.
 * (The event stream's messages are typed by their schemas where src/local/stream.ts writes them.)
 */

/** Readonly-insensitive and deep, so that `readonly string[]` and `string[]` count as the same. */
type Plain<T> = T extends readonly (infer E)[]
  ? Plain<E>[]
  : T extends object
    ? { -readonly [K in keyof T]: Plain<T[K]> }
    : T;
/** True when A and B are the same type (mutually assignable is not enough: it ignores extra keys). */
type Same<A, B> =
  (<T>() => T extends Plain<A> ? 1 : 2) extends <T>() => T extends Plain<B> ? 1 : 2 ? true : false;
/** Fails to compile unless `T` is `true`. */
type Agree<T extends true> = T;
type Out<M extends (...args: never[]) => unknown> = Awaited<ReturnType<M>>;

export type ViewsAgreeWithSchemas = [
  Agree<Same<Out<StackService["publishTemplate"]>["body"], Infer<typeof S.TEMPLATE_PUBLISHED>>>,
  Agree<Same<Out<StackService["listTemplates"]>, Infer<typeof S.TEMPLATE_LIST>>>,
  Agree<Same<Out<StackService["getTemplate"]>, Infer<typeof S.TEMPLATE>>>,
  Agree<Same<Out<StackService["setDefault"]>, Infer<typeof S.DEFAULT_TEMPLATE>>>,
  Agree<Same<Out<StackService["putCredential"]>, Infer<typeof S.CREDENTIAL>>>,
  Agree<Same<Out<StackService["removeCredential"]>, Infer<typeof S.CREDENTIAL_REMOVED>>>,
  Agree<Same<Out<StackService["getPolicy"]>, Infer<typeof S.POLICY>>>,
  Agree<Same<Out<StackService["putPolicy"]>, Infer<typeof S.POLICY>>>,
  Agree<Same<Out<StackService["putMember"]>, Infer<typeof S.MEMBER>>>,
  Agree<Same<Out<StackService["createStack"]>, Infer<typeof S.STACK_CREATED>>>,
  Agree<
    Same<Out<StackService["listStacks"]>[number] & { latest?: number }, Infer<typeof S.STACK_LIST>[number]>
  >,
  Agree<Same<Out<StackService["getStack"]>, Infer<typeof S.STACK_STATUS>>>,
  Agree<Same<Out<StackService["rerun"]>, Infer<typeof S.STARTED>>>,
  Agree<Same<Out<StackService["destroy"]>, Infer<typeof S.STARTED>>>,
  Agree<Same<Out<StackService["power"]>, Infer<typeof S.STARTED>>>,
  Agree<Same<ChangeSet, Infer<typeof S.CHANGE_SET>>>,
  Agree<Same<Out<StackService["update"]>, Infer<typeof S.UPDATE_STARTED>>>,
  Agree<Same<Out<StackService["extend"]>, Infer<typeof S.EXTENDED>>>,
  Agree<Same<StackEvent, Infer<typeof S.STACK_EVENTS>[number]>>,
  Agree<Same<Out<RolloutService["list"]>, Infer<typeof S.ROLLOUT_LIST>>>,
  Agree<Same<Out<RolloutService["get"]>, Infer<typeof S.ROLLOUT>>>,
  Agree<Same<Out<RolloutService["start"]>["body"], Infer<typeof S.ROLLOUT>>>,
  Agree<Same<MemberLeftResult, Infer<typeof S.MEMBER_LEFT>>>,
  Agree<Same<Out<StackService["deliver"]>, Infer<typeof S.EVENT_DELIVERED>>>,
  Agree<Same<Out<StackService["readyCallback"]>, Infer<typeof S.READY>>>,
  Agree<Same<Out<StackService["logs"]>, Infer<typeof S.SERVER_LOG>>>,
  Agree<Same<Out<StackService["hookLogs"]>, Infer<typeof S.HOOK_LOG>>>,
  Agree<Same<Out<StackService["exec"]>, Infer<typeof S.EXEC_RESULT>>>,
  Agree<Same<Out<ConsoleService["whoami"]>, Infer<typeof S.WHOAMI>>>,
  Agree<Same<Out<ConsoleService["members"]>, Infer<typeof S.MEMBER_LIST>>>,
  Agree<Same<Out<ConsoleService["credentials"]>, Infer<typeof S.CREDENTIAL_LIST>>>,
  Agree<Same<Out<ConsoleService["events"]>, Infer<typeof S.TEAM_EVENTS>>>,
  Agree<Same<Out<ConsoleService["redeem"]>, Infer<typeof S.SESSION>>>,
  Agree<Same<Out<ConsoleService["config"]>, Infer<typeof S.CONSOLE_CONFIG>>>,
];
