// The house's import rules (docs/architecture.md), checked by resolving every relative import of
// every source file: a forbidden import fails this test even if the linter is skipped.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const PARTS = [
  'protocol',
  'runtime',
  'firmware-config',
  'edge',
  'models',
  'gateway',
  'dashboard',
  'sim',
  'cli',
  'tests',
  'bench',
] as const;
type Part = (typeof PARTS)[number];

/** Who may import whom. Parts not listed for a part are forbidden to it. */
export const ALLOWED: Record<Part, readonly Part[]> = {
  protocol: [],
  runtime: ['protocol'],
  'firmware-config': ['protocol'],
  edge: ['protocol'],
  models: ['protocol'],
  gateway: ['protocol', 'runtime', 'firmware-config', 'edge', 'models'],
  dashboard: ['protocol', 'runtime', 'firmware-config', 'edge', 'models'],
  sim: ['protocol', 'firmware-config'],
  cli: ['protocol', 'runtime', 'firmware-config', 'edge', 'models', 'gateway', 'dashboard', 'sim'],
  tests: [...PARTS],
  bench: [...PARTS],
};

function* sourceFiles(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'public' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* sourceFiles(p);
    else if (/\.(ts|js)$/.test(name)) yield p;
  }
}

export function importsOf(source: string): string[] {
  const out: string[] = [];
  const re =
    /(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s*['"]([^'"]+)['"]/gm;
  for (const m of source.matchAll(re)) out.push((m[1] ?? m[2] ?? m[3])!);
  return out;
}

function partOf(root: string, file: string): Part | undefined {
  const top = relative(root, file).split('/')[0];
  return (PARTS as readonly string[]).includes(top!) ? (top as Part) : undefined;
}

export function violations(root = ROOT): string[] {
  const found: string[] = [];
  for (const part of PARTS) {
    let files: string[];
    try {
      files = [...sourceFiles(join(root, part))];
    } catch {
      continue;
    }
    for (const file of files) {
      for (const spec of importsOf(readFileSync(file, 'utf8'))) {
        if (!spec.startsWith('.')) continue;
        const target = partOf(root, resolve(dirname(file), spec));
        if (target && target !== part && !ALLOWED[part].includes(target)) {
          found.push(`${relative(root, file)} imports ${spec} (${part} → ${target})`);
        }
      }
    }
  }
  return found;
}

describe('architecture', () => {
  it('finds the imports of a file, static and dynamic', () => {
    const src = `import { a } from '../gateway/x.ts';\nexport { b } from "./y.ts";\nconst m = await import('../dashboard/z.ts');\nimport '../side.ts';`;
    expect(importsOf(src)).toEqual(['../gateway/x.ts', './y.ts', '../dashboard/z.ts', '../side.ts']);
  });

  it('has no forbidden import between parts', () => {
    expect(violations()).toEqual([]);
  });

  it('reports an edge file that imports the gateway, and a protocol file that imports anything of ours', () => {
    const root = mkdtempSync(join(tmpdir(), 'hatake-arch-'));
    for (const d of ['edge', 'gateway', 'protocol', 'runtime']) mkdirSync(join(root, d));
    writeFileSync(join(root, 'edge', 'bad.ts'), "import { x } from '../gateway/store.ts';\n");
    writeFileSync(join(root, 'protocol', 'bad.ts'), "export * from '../runtime/log.ts';\n");
    writeFileSync(join(root, 'gateway', 'ok.ts'), "import { y } from '../edge/bad.ts';\n");
    expect(violations(root).sort()).toEqual([
      'edge/bad.ts imports ../gateway/store.ts (edge → gateway)',
      'protocol/bad.ts imports ../runtime/log.ts (protocol → runtime)',
    ]);
  });

  it('keeps protocol free of every other part of ours', () => {
    expect(ALLOWED.protocol).toEqual([]);
    expect(ALLOWED.edge).not.toContain('gateway');
    expect(ALLOWED.gateway).not.toContain('dashboard');
    expect(ALLOWED.dashboard).not.toContain('gateway');
  });
});
