/** The validator worker's path, made by the console's build (web/src/editor/worker-plugin.ts). */
declare module "teamstack:validator-worker" {
  const path: string;
  export default path;
}
