import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { delimiter, join } from "node:path";

/**
 * The first executable file named `name` in the directories of `searchPath` (a PATH: entries
 * separated by the platform's delimiter; empty entries skipped) and then `extraDirs`, or undefined.
 */
export async function findExecutable(
  name: string,
  searchPath: string | undefined,
  extraDirs: readonly string[] = [],
): Promise<string | undefined> {
  const dirs = [...(searchPath ?? "").split(delimiter).filter((d) => d !== ""), ...extraDirs];
  for (const dir of dirs) {
    const file = join(dir, name);
    try {
      await access(file, constants.X_OK);
      return file;
    } catch {
      // not here; try the next directory
    }
  }
  return undefined;
}
