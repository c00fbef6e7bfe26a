export {
  type AwsProviderOptions,
  type CredentialLookup,
  clientTokenOf,
  createAwsProvider,
  parseAwsOptions,
  serverTags,
  UBUNTU_IMAGE_PARAMETER,
} from "./aws-provider.ts";
export {
  BOOTSTRAP_TAG,
  bootstrapTagValue,
  ensureBootstrap,
  FIREWALL_TAG,
  firewallPermissions,
  keyPairParameter,
} from "./bootstrap.ts";
export { type AwsClientFactory, type AwsClients, type ClientTarget, sdkClientFactory } from "./clients.ts";
export { type AwsCredentials, CredentialSource, sessionNameFor } from "./credentials.ts";
export { awsDeclaration, TEAM_ROLE_PREFIX } from "./declaration.ts";
export { AwsApiError, AwsCredentialError, ProviderThrottledError, translateAwsError } from "./errors.ts";
export type { BootstrapClaim, BootstrapLeases, BootstrapRecord, BootstrapResources } from "./leases.ts";
export { architectureOf, PORTABLE_OFFERINGS, resolveInstanceType } from "./sizes.ts";
export { launchBudgetKey, RUN_INSTANCES_RATE } from "./token-bucket.ts";
export { EC2_USER_DATA_LIMIT, encodeUserData, WRAPPER_MAX_OVERHEAD, wrapperScript } from "./user-data.ts";
