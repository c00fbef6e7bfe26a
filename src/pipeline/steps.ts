/**
 * The task functions of the state machines, one per Task state, over the ports. Each is safe to
 * run again with the same input (Retry, redrive, a rerun after a crash): it converges and never
 * creates twice. The local runtime calls them through this module; each Lambda imports its own
 * task's module, so that its bundle carries only what that task needs (Prepare alone parses YAML).
 */

export { causeMessage } from "./context.ts";
export {
  checkDestroyed,
  checkRemoved,
  destroyOrder,
  destroyServer,
  markDestroyFailed,
  waitForDependents,
} from "./destroy.ts";
export { EVENT_SOURCE, finalize, onFailure, resume } from "./finish.ts";
export { runHook } from "./hooks.ts";
export {
  finishPower,
  markPowerFailed,
  onPowerFailure,
  preparePower,
  runOnStart,
  startServer,
  stopServer,
} from "./power.ts";
export { prepare, prepareDestroy } from "./prepare.ts";
export type {
  DestroyPlan,
  FailureInput,
  HookInput,
  ProvisionPlan,
  RunInput,
  ServerInput,
  StackInput,
  TokenInput,
} from "./run.ts";
export {
  checkServers,
  createServer,
  markServerFailed,
  publishArtifacts,
  refOf,
  settleReadiness,
  waitForDependencies,
  waitUntilReady,
} from "./servers.ts";
