// The compiled tree's record of what it was built from (written by scripts/build.js as
// dist/build.json): each bundled source file, relative to the record, with its size and
// modification time. A gateway updated with `git pull` but not rebuilt would otherwise run the old
// code without a word; dist/hatake.mjs checks the record first and refuses to start instead.
import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

declare global {
  interface ImportMeta {
    /**
     * The URL of the compiled bundle this module was built into (scripts/build.js); undefined
     * when running from the TypeScript sources.
     */
    readonly hatakeDist?: string;
  }
}

export interface BuildRecord {
  version: string;
  node: string;
  builtAt: string;
  inputs: Record<string, { size: number; mtimeMs: number }>;
}

/**
 * The sources that changed (or went missing) since the build `record` describes, as paths relative
 * to the record; empty when the build is current. A missing or unreadable record is an error.
 */
export function changedSources(record: URL): string[] {
  let parsed: BuildRecord;
  try {
    parsed = JSON.parse(readFileSync(record, 'utf8')) as BuildRecord;
  } catch (e) {
    throw new Error(`cannot read the build record ${fileURLToPath(record)}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  if (typeof parsed?.inputs !== 'object' || parsed.inputs === null)
    throw new Error(`the build record ${fileURLToPath(record)} lists no sources`);
  const changed: string[] = [];
  for (const [path, was] of Object.entries(parsed.inputs)) {
    const st = statSync(new URL(path, record), { throwIfNoEntry: false });
    if (!st || st.size !== was.size || st.mtimeMs !== was.mtimeMs) changed.push(path);
  }
  return changed;
}
