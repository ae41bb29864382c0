// The crops the rules know, the names a manifest may use for them (English, Japanese, common
// variants), and their display names. A field's free-text `crop` is resolved here.

export const CROPS = {
  maize: {
    ja: 'トウモロコシ',
    en: 'maize',
    aliases: [
      'maize',
      'corn',
      'field-corn',
      'grain-maize',
      'とうもろこし',
      'トウモロコシ',
      'デントコーン',
      '子実用トウモロコシ',
    ],
  },
  wheat: {
    ja: '小麦',
    en: 'wheat',
    aliases: [
      'wheat',
      'winter-wheat',
      'spring-wheat',
      '小麦',
      'こむぎ',
      'コムギ',
      '秋まき小麦',
      '春まき小麦',
    ],
  },
  soybean: { ja: '大豆', en: 'soybean', aliases: ['soybean', 'soybeans', 'soy', '大豆', 'だいず', 'ダイズ'] },
  potato: {
    ja: 'ばれいしょ',
    en: 'potato',
    aliases: ['potato', 'potatoes', 'じゃがいも', 'ジャガイモ', 'ばれいしょ', '馬鈴薯', 'バレイショ'],
  },
  tomato: { ja: 'トマト', en: 'tomato', aliases: ['tomato', 'tomatoes', 'トマト'] },
  rice: {
    ja: '水稲',
    en: 'rice',
    aliases: ['rice', 'paddy-rice', 'paddy', 'lowland-rice', '水稲', '稲', 'イネ', 'いね', '米'],
  },
} as const;

export type CropId = keyof typeof CROPS;

/** Lower-case, trimmed, with spaces and underscores as hyphens. */
export function normalizeName(s: string): string {
  return s
    .trim()
    .toLowerCase()
    .replace(/[\s_]+/g, '-');
}

const BY_ALIAS = new Map<string, CropId>();
for (const [id, c] of Object.entries(CROPS) as [CropId, (typeof CROPS)[CropId]][]) {
  for (const a of c.aliases) BY_ALIAS.set(normalizeName(a), id);
}

/** The crop a manifest's free-text crop names, or undefined. */
export function resolveCrop(name: string | undefined): CropId | undefined {
  return name === undefined ? undefined : BY_ALIAS.get(normalizeName(name));
}

/** Spring-sown wheat ("spring-wheat", 春まき小麦); other wheat is taken as winter-sown, as most in Japan. */
export function isSpringWheat(name: string | undefined): boolean {
  if (name === undefined) return false;
  const n = normalizeName(name);
  return n === 'spring-wheat' || n === '春まき小麦';
}
