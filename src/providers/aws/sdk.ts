/**
 * The AWS SDK clients the provider calls, imported on first use. Every task function bundles this
 * provider (through lambdas/shared/deps.ts); importing EC2, SSM and STS costs about 120 ms of cold
 * start, which a function that never meets an aws server should not pay. Types are imported
 * statically (they are erased).
 */
export const loadEc2 = () => import("@aws-sdk/client-ec2");
export const loadSsm = () => import("@aws-sdk/client-ssm");
export const loadSts = () => import("@aws-sdk/client-sts");
export const loadInstanceConnect = () => import("@aws-sdk/client-ec2-instance-connect");
