// The device registry as the broker sees it: who may connect, with which kit. Re-read when the
// file changes (provisioning writes it), keeping the last good version if a new one is broken. A
// reload tells which ids' credentials it revoked or changed, so their connections can be closed.
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
  /** Told, at every reload, the ids whose credentials it removed or changed. */
  private readonly revoked: ((ids: ReadonlySet<string>) => void)[] = [];
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

  /**
   * The registered id (device or provider) that MQTT client id names: the id itself (`soil-1`, as
   * provisioning configures devices), or the id, a separator (any character but a-z and 0-9) and
   * anything (`soil-1-sim`, as the simulators connect). The longest such id; undefined when none.
   */
  clientIdOwner(clientId: string): string | undefined {
    if (this.devices.has(clientId) || this.providers.has(clientId)) return clientId;
    for (let i = Math.min(clientId.length - 1, 64); i > 0; i--) {
      const c = clientId.charCodeAt(i);
      const word = (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39);
      if (word) continue;
      const id = clientId.slice(0, i);
      if (this.devices.has(id) || this.providers.has(id)) return id;
    }
    return undefined;
  }

  /** Whether a client is a provider allowed the given scope (e.g. publishing imagery). */
  isProvider(id: string, scope: 'imagery'): boolean {
    return this.providers.get(id)?.scopes.includes(scope) ?? false;
  }

  /** Re-reads the file; a broken file is logged and the last good registry stays. */
  reload(): boolean {
    let revoked: Set<string>;
    try {
      const reg = readRegistryFile(this.file);
      const before = new Map(
        [...this.devices.keys(), ...this.providers.keys()].map((id) => [id, this.credential(id)]),
      );
      this.farm = reg.farm;
      this.devices = new Map(reg.devices.map((d) => [d.id, d]));
      this.providers = new Map((reg.providers ?? []).map((p) => [p.id, p]));
      revoked = new Set([...before].filter(([id, was]) => this.credential(id) !== was).map(([id]) => id));
      this.log.info(
        { devices: this.devices.size, revoked: [...revoked].slice(0, 20) },
        'device registry reloaded',
      );
    } catch (e) {
      this.log.error(
        { err: e instanceof HatakeError ? e.describe() : String(e) },
        'registry not reloaded; keeping the last good one',
      );
      return false;
    }
    if (revoked.size > 0) for (const fn of this.revoked) fn(revoked);
    return true;
  }

  /** What a client logs in with and may do, as one comparable value; undefined for an unknown id. */
  private credential(id: string): string | undefined {
    const d = this.devices.get(id);
    if (d) return `device ${d.secretHash}`;
    const p = this.providers.get(id);
    return p ? `provider ${p.secretHash} ${[...p.scopes].sort().join(',')}` : undefined;
  }

  /** Calls `fn` at each reload that removed ids or changed their secret (or a provider's scopes). */
  onRevoked(fn: (ids: ReadonlySet<string>) => void): void {
    this.revoked.push(fn);
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
