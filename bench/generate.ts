/** Generated templates for benchmarks: layered DAGs of `n` servers with random references. */

/** A small deterministic PRNG (mulberry32), so every run benchmarks the same templates. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface GeneratedServer {
  readonly name: string;
  readonly deps: readonly string[];
  readonly bootMs: number;
}

/**
 * A DAG of `n` servers: each references up to `maxDeps` earlier servers (so it is acyclic), with
 * boot times uniform in [minBoot, maxBoot].
 */
export function generateDag(
  n: number,
  options: { seed?: number; maxDeps?: number; minBootMs?: number; maxBootMs?: number } = {},
): GeneratedServer[] {
  const rnd = random(options.seed ?? 42);
  const maxDeps = options.maxDeps ?? 3;
  const minBoot = options.minBootMs ?? 0;
  const maxBoot = options.maxBootMs ?? 0;
  const servers: GeneratedServer[] = [];
  for (let i = 0; i < n; i++) {
    const deps = new Set<string>();
    const k = i === 0 ? 0 : Math.floor(rnd() * (maxDeps + 1));
    for (let j = 0; j < k; j++) deps.add(`s${Math.floor(rnd() * i)}`);
    servers.push({
      name: `s${i}`,
      deps: [...deps],
      bootMs: Math.round(minBoot + rnd() * (maxBoot - minBoot)),
    });
  }
  return servers;
}

/**
 * The YAML of a generated DAG: half the dependencies by reference in user_data, half by depends_on.
 * `options` go into every server's options (`create_rate: 2`); `maxParallel` into the settings.
 */
export function dagTemplate(
  servers: readonly GeneratedServer[],
  extra: { readonly options?: string; readonly maxParallel?: number } = {},
): string {
  const lines = ["settings:", `  max_parallel: ${extra.maxParallel ?? 1000}`, "servers:"];
  for (const s of servers) {
    lines.push(`  - name: ${s.name}`, "    provider: sim", "    type: t3.micro");
    const options = [
      ...(s.bootMs > 0 ? [`boot_ms: ${s.bootMs}`] : []),
      ...(extra.options ? [extra.options] : []),
    ];
    if (options.length > 0) lines.push(`    options: { ${options.join(", ")} }`);
    const refs = s.deps.filter((_, i) => i % 2 === 0);
    const after = s.deps.filter((_, i) => i % 2 === 1);
    if (after.length > 0) lines.push(`    depends_on: [${after.join(", ")}]`);
    lines.push("    user_data: |", `      echo starting $TEAMSTACK_SERVER on \${PATH}`);
    for (const r of refs) lines.push(`      echo "$servers.${r}.IP:5432" >> /etc/hosts`);
  }
  return `${lines.join("\n")}\n`;
}
