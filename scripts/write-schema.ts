// Writes schema/stack-template.schema.json from the validation tables (npm run schema).
import { writeFileSync } from "node:fs";
import { templateSchema } from "../src/core/schema.ts";

const file = new URL("../schema/stack-template.schema.json", import.meta.url);
writeFileSync(file, `${JSON.stringify(templateSchema(), null, 2)}\n`);
