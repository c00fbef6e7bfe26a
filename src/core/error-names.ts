/**
 * Every error name teamstack gives its errors, written once. A failed task's `Error` is its error's
 * `name`, and the state machines' Retry and Catch match those names: they are the contract with
 * statemachines/*.asl.json. Each error class sets `this.name` from here (explicitly: bundlers
 * rename classes), and a test checks both directions: every name the ASL matches is thrown (or sent
 * with a task token) by the task code, and every retryable error a task can throw is retried by each
 * state that runs that task.
 */

/** `{ X: "X" }` for each name: the key is the name, so either one greps to the other. */
function names<const T extends readonly string[]>(...list: T): { readonly [K in T[number]]: K } {
  return Object.freeze(Object.fromEntries(list.map((n) => [n, n]))) as { readonly [K in T[number]]: K };
}

export const ERROR_NAMES = names(
  // src/core: the base class and the template language.
  "TeamstackError",
  "TemplateError",
  "UnresolvedReferenceError",
  "GraphError",
  "ProviderCatalogError",
  // src/pipeline: what the task functions decide.
  "PipelineError",
  "StackLockedError",
  "TemplateInvalidError",
  "DependencyFailedError",
  "DependentNotDestroyedError",
  "UserDataFailedError",
  "ProviderFailedError",
  "ProviderUnavailableError",
  "ServersFailedError",
  "HookFailedError",
  "HookRetryableError",
  "StackFailedError",
  // src/pipeline/power.ts and expiry.ts: stop, start and expiry.
  "PowerRefusedError",
  "ExpiryNotDueError",
  "OnStartFailedError",
  "ScheduleError",
  // src/store and its local daemon.
  "StoreError",
  "StackNotFoundError",
  "ServerRecordNotFoundError",
  "TemplateNotFoundError",
  "InvalidStoreKeyError",
  "ItemTooLargeError",
  "TableNotFoundError",
  "StoreThrottledError",
  "StoreUnavailableError",
  "LocalStoreError",
  "StoreLostError",
  // src/providers: every provider's errors, then the aws and local providers' own.
  "ProviderError",
  "ProviderRequestError",
  "ProviderThrottledError",
  "ServerNotFoundError",
  "AwsCredentialError",
  "AwsApiError",
  "LocalSandboxError",
  "SandboxUnsupportedError",
  "SandboxSetupError",
  "SandboxNotRunningError",
  "SandboxBusyError",
  // src/providers/docker: the Docker Engine API.
  "DockerError",
  "DockerUnreachableError",
  "DockerImageMissingError",
  "DockerApiError",
  "AddressExhaustedError",
  "SshError",
  "SshHostError",
  "SshHostKeyError",
  "SshConnectionError",
  // src/hooks.
  "HookError",
  "MissingSecretError",
  "HookRequestError",
  "HookServiceError",
  "EgressRefusedError",
  "EgressConfigError",
  // Secrets, outbound events, the Lambda wiring.
  "SecretsError",
  "EventPublishError",
  "MissingConfigurationError",
  "InvalidEventError",
  "InvalidStackEventError",
  // The API, the local runtime and the command line: never inside a task.
  "ApiError",
  "UnboundTaskError",
  "StateDirError",
  "ListenError",
  "UsageError",
  "FileError",
  "ServerUnreachableError",
  "InterruptedError",
  "ServeStoppedError",
  "LogKeyError",
);

export type ErrorName = keyof typeof ERROR_NAMES;

/**
 * The Lambda service's own transient failures of an invoke (AWS's recommended Retry for Lambda
 * tasks). Thrown by the service, not by our code; every Task state retries them.
 */
export const LAMBDA_SERVICE_ERRORS = [
  "Lambda.ServiceException",
  "Lambda.AWSLambdaException",
  "Lambda.SdkClientException",
  "Lambda.TooManyRequestsException",
] as const;

/** Stands for every task function in {@link RETRYABLE_ERRORS}. */
export const EVERY_TASK = "*";

/**
 * The errors a later try may cure, with the task functions that can throw them (named as the ASL
 * names their Lambdas: `CreateServer` for `${CreateServerFunctionArn}`). Every Task state running
 * one of these functions names the error in a Retry, with backoff and jitter.
 *
 * - The store's outage and throttling: every task reads or writes the store.
 * - A provider asking to slow down (or unreachable for now): every task that calls a provider, to
 *   create, destroy (OnFailure rolls back), run a script (a `run_script` hook) or watch readiness.
 * - A hook failing in a way that may pass later (429, 5xx, a timeout).
 */
export const RETRYABLE_ERRORS: Readonly<Partial<Record<ErrorName, typeof EVERY_TASK | readonly string[]>>> = {
  StoreUnavailableError: EVERY_TASK,
  StoreThrottledError: EVERY_TASK,
  ProviderThrottledError: [
    "CreateServer",
    "DestroyServer",
    "OnFailure",
    "RunHook",
    "WaitUntilReady",
    "StopServer",
    "StartServer",
    "RunOnStart",
  ],
  HookRetryableError: ["RunHook"],
};

/** True when the ASL retries errors of this name (for the task functions that throw it). */
export function isRetryable(name: string): boolean {
  return Object.hasOwn(RETRYABLE_ERRORS, name);
}

/** The retryable error names a task function can throw, Lambda's own included. */
export function retryableErrorsOf(taskFunction: string): string[] {
  const ours = Object.entries(RETRYABLE_ERRORS)
    .filter(([, by]) => by === EVERY_TASK || (by as readonly string[]).includes(taskFunction))
    .map(([name]) => name);
  return [...LAMBDA_SERVICE_ERRORS, ...ours];
}
