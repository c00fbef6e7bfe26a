/** What a masked secret shows as. */
export const MASK = "***";

/**
 * A function that replaces every occurrence of the given secret values in a text with `***`.
 * Longer values go first, so a secret that contains another is masked whole. Values shorter than
 * 4 characters are masked too: a short secret is still a secret.
 */
export function createMasker(values: Iterable<string>): (text: string) => string {
  const secrets = [...new Set([...values].filter((v) => v !== ""))].sort((a, b) => b.length - a.length);
  if (secrets.length === 0) return (text) => text;
  return (text) => {
    let out = text;
    for (const s of secrets) if (out.includes(s)) out = out.split(s).join(MASK);
    return out;
  };
}

/** Masks every string inside a value, keeping its shape. */
export function maskValue<T>(value: T, mask: (text: string) => string): T {
  if (typeof value === "string") return mask(value) as T;
  if (Array.isArray(value)) return value.map((v) => maskValue(v, mask)) as T;
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = maskValue(v, mask);
    return out as T;
  }
  return value;
}
