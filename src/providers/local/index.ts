export {
  AddressExhaustedError,
  LocalSandboxError,
  SandboxBusyError,
  SandboxNotRunningError,
  SandboxSetupError,
  SandboxUnsupportedError,
} from "./errors.ts";
export { createLocalProvider, type LocalProviderOptions, localSandboxId } from "./local-provider.ts";
export { checkLocalSupport, detectLocalSupport, type LocalSupport } from "./support.ts";
