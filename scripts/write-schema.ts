// Writes schema/stack-template.schema.json from the validation tables and the registry's providers (npm run schema).
import { writeFileSync } from "node:fs";
import { templateSchema } from "../src/core/schema.ts";
import { PROVIDERS } from "../src/providers/registry.ts";

const file = new URL("../schema/stack-template.schema.json", import.meta.url);
writeFileSync(file, `${JSON.stringify(templateSchema(PROVIDERS), null, 2)}\n`);
