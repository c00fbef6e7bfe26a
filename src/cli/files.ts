import { open, readFile } from "node:fs/promises";
import { ERROR_NAMES } from "../core/error-names.ts";
import { TeamstackError } from "../core/errors.ts";

/** A file that cannot be read at all (missing, a directory, no permission): exit code 2. */
export class FileError extends TeamstackError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = ERROR_NAMES.FileError;
  }
}

function describeFsError(file: string, error: unknown): FileError {
  const code = (error as NodeJS.ErrnoException)?.code;
  const why =
    code === "ENOENT"
      ? "no such file"
      : code === "EISDIR"
        ? "is a directory, expected a file"
        : code === "EACCES" || code === "EPERM"
          ? "permission denied"
          : ((error as Error)?.message ?? String(error));
  return new FileError(`cannot read ${file}: ${why}`, { cause: error });
}

/**
 * Reads at most `limit` bytes of a file. A larger file is not read further: the result says so
 * with its size.
 * @throws FileError when the file cannot be read.
 */
export async function readTemplateBytes(
  file: string,
  limit: number,
): Promise<{ tooLarge: false; bytes: Uint8Array } | { tooLarge: true; size: number }> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(file, "r");
    const { size } = await handle.stat();
    if (size > limit) return { tooLarge: true, size };
    return { tooLarge: false, bytes: await handle.readFile() };
  } catch (error) {
    throw describeFsError(file, error);
  } finally {
    await handle?.close();
  }
}

/**
 * Reads a JSON file.
 * @throws FileError when it cannot be read or is not JSON.
 */
export async function readJsonFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw describeFsError(file, error);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new FileError(`${file}: not valid JSON: ${(error as Error).message}`, { cause: error });
  }
}
