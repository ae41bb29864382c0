// The gateway's imagery inbox in a test: the demo farm's fields, a fresh folder per scan, files
// dropped in and scanned once; what the inbox reported, and the folders are removed after each test.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { ImageryInbox, type FailedScene, type ProcessedScene } from '../../gateway/imagery/inbox.ts';
import type { FieldInput } from '../../edge/imagery/fields.ts';
import type { Manifest } from '../../protocol/manifest.ts';
import { quietLog } from './stack.ts';

/** A manifest's fields with a boundary, as the imagery pipeline takes them. */
export function imageryFields(manifest: Manifest): FieldInput[] {
  return manifest.fields
    .filter((f) => f.boundary)
    .map((f) => ({
      id: f.id,
      name: f.name,
      polygons: [f.boundary!.coordinates as FieldInput['polygons'][number]],
    }));
}

/**
 * `scanWith(files)`: an inbox with `files` (bytes, or objects written as JSON) scanned once, and
 * what it reported; `newInbox()`: an empty imagery folder (inbox/, done/, failed/) to drop into.
 */
export function inboxScanner(fields: FieldInput[], prefix = 'hatake-inbox-') {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const newDir = () => {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(dir);
    return dir;
  };
  const newInbox = (): string => {
    const dir = newDir();
    new ImageryInbox(
      dir,
      () => fields,
      () => undefined,
      quietLog(),
    ); // makes its folders
    return dir;
  };
  const scanWith = async (files: Record<string, Buffer | object>) => {
    const dir = newDir();
    const results: ProcessedScene[] = [];
    const failures: FailedScene[] = [];
    const inbox = new ImageryInbox(
      dir,
      () => fields,
      (r) => results.push(r),
      quietLog(),
      (f) => failures.push(f),
    );
    for (const [name, content] of Object.entries(files))
      writeFileSync(join(inbox.inbox, name), Buffer.isBuffer(content) ? content : JSON.stringify(content));
    await inbox.scan();
    await inbox.stop();
    return { dir, results, failures };
  };
  return { scanWith, newInbox };
}
