// The officer's review finds a recommendation's model card among the models shipped with the
// server, and — for a model an admin sent the farm's gateways — in the model document it was sent
// with (a real SQLite downlink store), never another farm's, never a withdrawn one.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Downlink } from '../../dashboard/downlink.ts';
import { ModelInfo, publishedCards } from '../../dashboard/review/model-info.ts';
import type { ModelCard } from '../../protocol/model-card.ts';
import type { Recommendation } from '../../protocol/recommendation.ts';
import { openDatabase } from '../../runtime/sqlite.ts';
import { ARTIFACTS_DIR } from '../../models/paths.ts';

const dir = mkdtempSync(join(tmpdir(), 'hatake-model-info-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const db = openDatabase(join(dir, 'server.db'), []);
const downlink = new Downlink(db);
const info = new ModelInfo({ published: publishedCards(downlink) });

const shipped = JSON.parse(
  readFileSync(join(ARTIFACTS_DIR, 'holland-schepers-si@1.0.0.card.json'), 'utf8'),
) as ModelCard;
// A version only the farm's gateways have: sent by an admin, not shipped with the server.
const sent: ModelCard = { ...shipped, version: '1.1.0', sha256: 'ab'.repeat(32) };
downlink.publish('demo-farm', 'model', 'holland-schepers-si@1.1.0', {
  id: sent.id,
  version: sent.version,
  sha256: sent.sha256,
  card: sent,
});

/** What `card()` reads of a recommendation: its farm and its model. */
const rec = (farm: string, version: string, sha256: string) =>
  ({ farm, model: { id: 'holland-schepers-si', version, sha256 } }) as unknown as Recommendation;

describe('model cards for the review', () => {
  it('finds a shipped model’s card, and says when the sha256 used is not its', () => {
    expect(info.card(rec('demo-farm', '1.0.0', shipped.sha256))).toMatchObject({
      cardStatus: 'matches',
      card: { version: '1.0.0' },
    });
    expect(info.card(rec('demo-farm', '1.0.0', 'cd'.repeat(32))).cardStatus).toBe('sha256_mismatch');
  });

  it('finds the card of a model sent to the farm’s gateways, and only for that farm', () => {
    expect(info.card(rec('demo-farm', '1.1.0', sent.sha256))).toEqual({
      ref: 'holland-schepers-si@1.1.0',
      cardStatus: 'matches',
      card: sent,
    });
    expect(info.card(rec('demo-farm', '1.1.0', 'cd'.repeat(32))).cardStatus).toBe('sha256_mismatch');
    expect(info.card(rec('hok-farm', '1.1.0', sent.sha256))).toEqual({
      ref: 'holland-schepers-si@1.1.0',
      cardStatus: 'not_installed',
      card: null,
    });
    expect(info.card(rec('demo-farm', '9.9.9', sent.sha256)).cardStatus).toBe('not_installed');
  });

  it('no longer finds a model withdrawn from the farm', () => {
    downlink.publish('demo-farm', 'model', 'holland-schepers-si@1.1.0', { id: sent.id }, { deleted: true });
    expect(info.card(rec('demo-farm', '1.1.0', sent.sha256)).cardStatus).toBe('not_installed');
  });
});
