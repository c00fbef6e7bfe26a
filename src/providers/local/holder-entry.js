// Starts the sandbox holder (holder.ts) with Node's compile cache, which keeps the TypeScript
// of the holder and of what it imports already stripped: a holder then never loads the
// TypeScript compiler, which would stay in its memory for the sandbox's whole life (about
// 30 MB per sandbox). argv: the cache directory (private to the user teamstack runs as), then
// the holder's own arguments.
import module from "node:module";

process.umask(0o077);
const cache = process.argv[2];
if (cache) module.enableCompileCache(cache);
await import("./holder.ts");
// A holder never exits by itself (it is killed): write the cache now, for the next one.
if (cache) module.flushCompileCache();
