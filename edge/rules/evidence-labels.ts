// What the identifiers in a tip's evidence mean, in words a farmer reads: a name for each rule
// (`irrigation-fao56` → 灌水（FAO-56）) and, per rule, a label for each threshold and quantity it
// writes (`taw` → 総有効水分量（TAW）). A term means what its rule says it means (a `threshold` of
// the frost rule is the area's frost threshold; another rule's may not be), so labels are looked up
// by rule and name. Data only, with no imports: the web UI bundles it and the gateway may read it.
// An unknown rule or term (a newer rule, a partner's) has no label; the reader shows its identifier.
// tests/unit/rules/evidence-labels.test.ts checks that every name the shipped rules write has one.

/** Words for an identifier, Japanese and English. */
export interface EvidenceLabel {
  ja: string;
  en: string;
  /** A symbol or method name written after the words in parentheses, never translated: TAW, FAO-56. */
  symbol?: string;
}

/** A threshold's or quantity's label, and how its value reads when it is not a plain number. */
export interface TermLabel extends EvidenceLabel {
  /** `time`: the value is a time (UTC epoch ms); `values`: the value is a code with words (below). */
  reads?: 'time' | 'values';
  /** Words for each value of a coded term (a yes/no flag stored as 1/0), keyed by the number. */
  values?: Readonly<Record<string, EvidenceLabel>>;
  /** Words for the name as a threshold (the value tested against it), where a quantity's differ. */
  asThreshold?: EvidenceLabel;
}

interface RuleLabels {
  name: EvidenceLabel;
  terms: Readonly<Record<string, TermLabel>>;
  /**
   * Names a rule builds from a prefix and a part it fills in (`tmin_2026-06-01`, `stage_V6`): the
   * label of the prefix, given the rest of the name.
   */
  families?: Readonly<Record<string, (rest: string) => TermLabel>>;
}

const yesNo = (yes: EvidenceLabel, no: EvidenceLabel) => ({
  reads: 'values' as const,
  values: { 1: yes, 0: no },
});

/** By rule id (edge/rules/*.ts `RULE_ID`, and `officer-review` of the server's prescription tip). */
export const EVIDENCE_LABELS: Readonly<Record<string, RuleLabels>> = {
  // FAO-56 chapter 8 (Allen et al. 1998): TAW = 1000 (θFC − θWP) Zr, RAW = p TAW, irrigate when Dr ≥ RAW.
  'irrigation-fao56': {
    name: { ja: '灌水', en: 'Irrigation', symbol: 'FAO-56' },
    terms: {
      hours_to_raw: {
        ja: '易有効水分を使い切るまでの時間',
        en: 'Time until the readily available water is used up',
      },
      depletion_reaches_raw: {
        ja: '根群域の水分消費量 対 易有効水分量',
        en: 'Root-zone depletion against readily available water',
      },
      theta: { ja: '土壌水分', en: 'Soil moisture', symbol: 'θ' },
      theta_fc: { ja: '圃場容水量', en: 'Field capacity', symbol: 'θFC' },
      theta_wp: { ja: '永久しおれ点', en: 'Permanent wilting point', symbol: 'θWP' },
      root_depth: { ja: '有効根群域の深さ', en: 'Effective root depth', symbol: 'Zr' },
      taw: { ja: '総有効水分量', en: 'Total available water', symbol: 'TAW' },
      raw: { ja: '易有効水分量', en: 'Readily available water', symbol: 'RAW' },
      depletion: { ja: '根群域の水分消費量', en: 'Root-zone depletion', symbol: 'Dr' },
      depletion_rate: { ja: '水分消費の速さ', en: 'Depletion rate' },
      // p: the fraction of TAW a crop can take up before it suffers water stress.
      p_table: { ja: '水ストレスなく使える割合・表の値', en: 'Depletion fraction, table value', symbol: 'p' },
      p: { ja: '水ストレスなく使える割合・補正後', en: 'Depletion fraction, adjusted for ETc', symbol: 'p' },
      etc: { ja: '作物の蒸発散量', en: 'Crop evapotranspiration', symbol: 'ETc' },
      etc_measured: {
        ja: '蒸発散量の求め方',
        en: 'How ETc was found',
        ...yesNo(
          { ja: '土壌水分の減少から実測', en: 'measured from the soil drying' },
          { ja: '既定値（減少なし・データ不足）', en: 'default (not drying, or too few readings)' },
        ),
      },
    },
  },
  // JMA frost advisory (霜注意報) style: the minimum air temperature at or below the area's threshold.
  frost: {
    name: { ja: '霜', en: 'Frost' },
    terms: {
      frost_threshold: { ja: '最低気温 対 霜の目安', en: 'Minimum temperature against the frost threshold' },
      severe_threshold: {
        ja: '最低気温 対 強い霜（凍霜害）の目安',
        en: 'Minimum temperature against the hard-frost threshold',
      },
      threshold: { ja: 'この地域の霜の目安', en: "The area's frost threshold" },
      trend_slope: { ja: '直近の気温の変化', en: 'Recent temperature trend' },
      lookback: { ja: '最低気温を調べた期間', en: 'Period searched for the minimum' },
    },
  },
  // BLASTAM (Koshimizu 1988): a favourable day (●) when leaf wetness lasts long enough for its temperature.
  blastam: {
    name: { ja: '葉いもち', en: 'Rice leaf blast', symbol: 'BLASTAM' },
    terms: {
      favourable_day: {
        ja: '感染好適日（●）',
        en: 'Infection-favourable day (●)',
        ...yesNo({ ja: '該当', en: 'yes' }, { ja: '該当しない', en: 'no' }),
      },
      wet_hours: { ja: '葉面の湿潤時間', en: 'Leaf-wetness hours' },
      wet_mean_temp: { ja: '湿潤時間中の平均気温', en: 'Mean temperature while wet' },
      five_day_mean_temp: { ja: '前5日間の平均気温', en: '5-day mean temperature' },
      favourable_days: { ja: '期間中の感染好適日（●）の日数', en: 'Favourable days (●) in the period' },
    },
  },
  // Hutton criteria: two consecutive days with Tmin ≥ 10 °C and ≥ 6 h of RH ≥ 90 % (the rule's parameters).
  'late-blight-hutton': {
    name: { ja: '疫病（ハットン基準）', en: 'Late blight (Hutton criteria)' },
    terms: {
      criteria_met: {
        ja: '基準',
        en: 'Criteria',
        ...yesNo({ ja: '満たした', en: 'met' }, { ja: '満たしていない', en: 'not met' }),
      },
      consecutive_days: { ja: '必要な連続日数', en: 'Consecutive days required' },
    },
    families: {
      tmin_: (date) => ({ ja: `最低気温（${date}）`, en: `Minimum temperature (${date})` }),
      humid_hours_: (date) => ({ ja: `高湿度の時間（${date}）`, en: `Hours of high humidity (${date})` }),
    },
  },
  'paddy-water-level': {
    name: { ja: '水田の水位', en: 'Paddy water level' },
    terms: {
      outside_band: { ja: '目安の水位からの外れ', en: 'Distance outside the target band' },
      band_min: {
        ja: '目安の水位（下限）',
        en: 'Target water level (lower limit)',
        asThreshold: { ja: '水位 対 目安の下限', en: 'Water level against the lower limit' },
      },
      band_max: {
        ja: '目安の水位（上限）',
        en: 'Target water level (upper limit)',
        asThreshold: { ja: '水位 対 目安の上限', en: 'Water level against the upper limit' },
      },
      level: { ja: '水位（直近の平均）', en: 'Water level (recent mean)' },
      stage_declared: {
        ja: '生育ステージ',
        en: 'Growth stage',
        ...yesNo(
          { ja: '入力された値', en: 'as declared' },
          { ja: '積算温度から推定', en: 'estimated from GDD' },
        ),
      },
    },
  },
  'growth-stage-gdd': {
    name: { ja: '生育ステージ・施肥適期（積算温度）', en: 'Growth stage and N timing (GDD)' },
    terms: {
      gdd: { ja: '積算温度', en: 'Growing degree days', symbol: 'GDD' },
      days_counted: { ja: '積算した日数', en: 'Days counted' },
      days_missing: { ja: '欠測の日数', en: 'Days without data' },
      recent_daily_gdd: { ja: '最近の1日あたりの積算温度', en: 'Recent GDD per day' },
      base_temperature: { ja: '基準温度（発育零点）', en: 'Base temperature' },
      window_from: { ja: '積算温度 対 適期の始まり', en: 'GDD against the start of the window' },
      window_to: { ja: '積算温度 対 適期の終わり', en: 'GDD against the end of the window' },
    },
    families: {
      stage_: (stage) => ({
        ja: '積算温度 対 生育ステージの目安',
        en: 'GDD against the stage threshold',
        symbol: stage,
      }),
    },
  },
  // A zone's vegetation index dropped against both its own history and the rest of the field.
  'imagery-anomaly': {
    name: { ja: '画像からの生育ムラ', en: 'Imagery anomaly' },
    terms: {
      score: { ja: '異常の度合い', en: 'Anomaly score' },
      own_drop: { ja: 'このゾーンの過去との差', en: "Change against the zone's own history" },
      relative_drop: { ja: '圃場全体と比べた差', en: 'Change relative to the rest of the field' },
      zone_mean: { ja: 'ゾーンの平均値', en: 'Zone mean' },
      own_baseline: { ja: 'ゾーンの過去の中央値', en: "Zone's earlier median" },
      field_median: { ja: '圃場の中央値', en: 'Field median' },
      history_scenes: { ja: '比べた過去の画像の数', en: 'Earlier scenes compared' },
      valid_fraction: { ja: '有効な画素の割合', en: 'Share of valid pixels' },
    },
  },
  'battery-low': {
    name: { ja: '電池残量低下', en: 'Battery low' },
    terms: {
      low: { ja: '電池電圧 対 交換の目安', en: 'Battery voltage against the low mark' },
      critical: { ja: '電池電圧 対 限界', en: 'Battery voltage against the critical level' },
      voltage: { ja: '電池電圧（直近の中央値）', en: 'Battery voltage (recent median)' },
    },
  },
  'device-offline': {
    name: { ja: '通信途絶', en: 'Device offline' },
    terms: {
      silence: { ja: 'データが届いていない時間', en: 'Time without data' },
      interval: { ja: '送信間隔', en: 'Reporting interval' },
      last_heard: { ja: '最終受信', en: 'Last heard', reads: 'time' },
    },
  },
  'sensor-stuck': {
    name: { ja: 'センサー値の固着', en: 'Stuck sensor' },
    terms: {
      unchanged_hours: { ja: '値が変わらない時間', en: 'Hours without a change' },
      readings: { ja: '変わらなかった測定の回数', en: 'Readings without a change' },
      tolerance: { ja: '変化とみなさない幅', en: 'Tolerance' },
    },
  },
  // The server's tip for a valve its gateway could not close (dashboard/review/automations.ts).
  'automation-valve': {
    name: { ja: '自動制御の弁', en: 'Automation valve' },
    terms: {
      close_attempts: { ja: '閉める指示の回数', en: 'Close commands sent' },
      max_open_minutes: { ja: '最大の開放時間', en: 'Longest open time' },
    },
  },
  // The server's tip for an approved recommendation (dashboard/review/prescription-tip.ts).
  'officer-review': {
    name: { ja: '施肥提案の承認', en: 'Approved recommendation' },
    terms: {
      mean_rate: { ja: '平均の窒素施用量', en: 'Mean N rate' },
      min_rate: { ja: '最小の窒素施用量', en: 'Lowest N rate' },
      max_rate: { ja: '最大の窒素施用量', en: 'Highest N rate' },
      total_n: { ja: '窒素の総量', en: 'Total N' },
      total_product: { ja: '肥料の総量', en: 'Total fertilizer' },
      area: { ja: '面積', en: 'Area' },
    },
  },
};

const own = <T>(o: Readonly<Record<string, T>>, k: string): T | undefined =>
  Object.hasOwn(o, k) ? o[k] : undefined;

/** The name of a rule, or undefined for a rule this table does not know. */
export function ruleLabel(ruleId: string): EvidenceLabel | undefined {
  return own(EVIDENCE_LABELS, ruleId)?.name;
}

/** The label of a rule's threshold or quantity, or undefined when it has none. */
export function termLabel(ruleId: string, name: string): TermLabel | undefined {
  const rule = own(EVIDENCE_LABELS, ruleId);
  if (!rule) return undefined;
  const exact = own(rule.terms, name);
  if (exact) return exact;
  for (const [prefix, label] of Object.entries(rule.families ?? {}))
    if (name.startsWith(prefix) && name.length > prefix.length) return label(name.slice(prefix.length));
  return undefined;
}

/** Words for a coded term's value, or undefined when the term is not coded or the value has none. */
export function valueLabel(label: TermLabel, value: number): EvidenceLabel | undefined {
  return label.reads === 'values' && label.values ? own(label.values, String(value)) : undefined;
}
