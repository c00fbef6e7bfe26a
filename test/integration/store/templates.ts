/** Test data shared by the store tests: a seeded random source and templates of a given size. */

// The benchmarks' seeded source (mulberry32): a failing interleaving can be replayed.
import { random } from "../../../bench/generate.ts";

export { random };

/** A realistic template of at least `minLength` characters: many servers with scripts. */
export function bigTemplate(minLength: number, seed: number): string {
  const rand = random(seed);
  const lines = ["vars:", "  region: eu-west-1", "servers:"];
  let size = 0;
  for (let i = 0; size < minLength; i++) {
    const token = Math.floor(rand() * 1e12).toString(36);
    const server = [
      `  - name: server-${i}`,
      "    provider: aws",
      `    type: ${["t3.micro", "t3.small", "4gb-ram/40gb-disk"][i % 3]}`,
      i > 0 ? `    depends_on: [server-${Math.floor(rand() * i)}]` : "    depends_on: []",
      "    user_data: |",
      `      echo "boot ${token}" >> /var/log/boot.log`,
      `      curl -fsS http://$servers.server-0.IP:${8000 + (i % 100)}/register?id=${token}`,
    ];
    lines.push(...server);
    size += server.join("\n").length + 1;
  }
  return lines.join("\n");
}

/** Text that gzip cannot shrink below DynamoDB's item limit. */
export function incompressible(length: number, seed: number): string {
  const rand = random(seed);
  return Array.from({ length }, () => String.fromCharCode(33 + Math.floor(rand() * 90))).join("");
}
