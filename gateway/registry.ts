// The device registry as the broker sees it: who may connect, with which kit. Re-read when the
// file changes (provisioning writes it), keeping the last good version if a new one is broken.
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { HatakeError } from '../protocol/errors.ts';
import { Registry, verifySecret, type RegistryDevice, type RegistryProvider } from '../protocol/registry.ts';
import { validator } from '../protocol/validate.ts';
import type { Logger } from '../runtime/log.ts';

const registryValidator = validator(Registry);

export function readRegistryFile(file: string): Registry {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new HatakeError('HATAKE_E_CONFIG', `cannot read registry: ${(e as Error).message}`, {
      place: { file },
    });
  }
  const reg = registryValidator.parse(raw, `registry ${file}`, 'HATAKE_E_CONFIG');
  const seen = new Set<string>();
  for (const d of reg.devices) {
    if (seen.has(d.id))
      throw new HatakeError('HATAKE_E_CONFIG', `device "${d.id}" appears twice`, { place: { file } });
    seen.add(d.id);
  }
  return reg;
}

export class DeviceRegistry {
  private devices = new Map<string, RegistryDevice>();
  private providers = new Map<string, RegistryProvider>();
  private watcher: FSWatcher | undefined;
  private reloadTimer: NodeJS.Timeout | undefined;
  /** Told after the watched file was re-read (a partner provisioned on the farm). */
  private readonly reloaded: (() => void)[] = [];
  farm: string;
  readonly file: string;
  private readonly log: Logger;

  constructor(file: string, log: Logger) {
    this.file = file;
    this.log = log;
    const reg = readRegistryFile(file);
    this.farm = reg.farm;
    this.devices = new Map(reg.devices.map((d) => [d.id, d]));
    this.providers = new Map((reg.providers ?? []).map((p) => [p.id, p]));
  }

  get(id: string): RegistryDevice | undefined {
    return this.devices.get(id);
  }

  get size(): number {
    return this.devices.size;
  }

  ids(): string[] {
    return [...this.devices.keys()];
  }

  /** True only for a registered device presenting its current secret. */
  authenticate(id: string, secret: Uint8Array | undefined): boolean {
    const hash = this.devices.get(id)?.secretHash ?? this.providers.get(id)?.secretHash;
    // Hash even for unknown clients so timing does not reveal which ids exist.
    const ok = verifySecret(secret ?? Buffer.alloc(0), hash ?? 'sha256:' + '0'.repeat(64));
    return hash !== undefined && secret !== undefined && ok;
  }

  /** Whether a client is a provider allowed the given scope (e.g. publishing imagery). */
  isProvider(id: string, scope: 'imagery'): boolean {
    return this.providers.get(id)?.scopes.includes(scope) ?? false;
  }

  /** Re-reads the file; a broken file is logged and the last good registry stays. */
  reload(): boolean {
    try {
      const reg = readRegistryFile(this.file);
      this.farm = reg.farm;
      this.devices = new Map(reg.devices.map((d) => [d.id, d]));
      this.providers = new Map((reg.providers ?? []).map((p) => [p.id, p]));
      this.log.info({ devices: this.devices.size }, 'device registry reloaded');
      return true;
    } catch (e) {
      this.log.error(
        { err: e instanceof HatakeError ? e.describe() : String(e) },
        'registry not reloaded; keeping the last good one',
      );
      return false;
    }
  }

  /** Watches the registry's folder (provisioning replaces the file by rename). */
  watch(): void {
    const name = basename(this.file);
    this.watcher = watch(dirname(this.file), (_event, changed) => {
      if (changed !== name) return;
      clearTimeout(this.reloadTimer);
      this.reloadTimer = setTimeout(() => {
        if (this.reload()) for (const fn of this.reloaded) fn();
      }, 100);
    });
  }

  /** Calls `fn` each time the watched file changed and was re-read. */
  onReload(fn: () => void): void {
    this.reloaded.push(fn);
  }

  close(): void {
    clearTimeout(this.reloadTimer);
    this.watcher?.close();
  }
}
