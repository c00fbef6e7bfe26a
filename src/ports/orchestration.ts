import type { ProviderName } from "../core/template.ts";
import type { ServerRef } from "./provider.ts";
import type { OutboundEvent } from "./store.ts";

/**
 * Sends the result of a `.waitForTaskToken` state: `@aws-sdk/client-sfn` in AWS, the local
 * runtime's token registry on one machine. Sending to a token that is settled already is not an
 * error (as SFN's TaskTimedOut), so a duplicate release is harmless.
 */
export interface TaskTokens {
  sendSuccess(token: string, output: Record<string, unknown>): Promise<void>;
  sendFailure(token: string, error: string, cause: string): Promise<void>;
}

/** Tells whether an execution that holds a stack's lock is still running. */
export interface Executions {
  isRunning(execution: string): Promise<boolean>;
}

/**
 * Arranges for a server's readiness (user_data finished) to settle a task token. In AWS the
 * instance reports back itself; locally a watcher waits on the provider.
 */
export interface Readiness {
  watch(request: {
    readonly provider: ProviderName;
    readonly ref: ServerRef;
    readonly token: string;
    /** Masks the stack's secrets in what user_data printed before it travels anywhere. */
    readonly mask?: (text: string) => string;
  }): Promise<void>;
}

/** Sends teamstack's own events (`Stack Provisioned`, `Stack Failed`): EventBridge in AWS, the events log locally. */
export interface EventPublisher {
  publish(event: OutboundEvent): Promise<void>;
}
