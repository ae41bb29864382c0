// A time-series chart with uPlot: a line of the values and, for rolled-up ranges of a level, the
// min–max band. An amount per reading (rain) rolled up is a total per hour or day, and its unit
// says so: mm/時間, mm/日 (mm/h, mm/day). Sized to its container, so it fits a 360-px phone as well
// as a desk.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { isSummed } from '../../../protocol/metrics.ts';
import type { Series } from '../../../protocol/views.ts';
import { useI18n } from '../i18n.ts';
import { fmtTime, timeTicks } from '../format.ts';

/**
 * The period a series' values are totals over: an hour or a day when the metric is an amount per
 * reading (rain) and the server rolled it up (dashboard/views/series.ts sums those), else none.
 */
export function totalPer(metric: string, resolution: Series['resolution']): 'hour' | 'day' | undefined {
  return isSummed(metric) && resolution !== 'raw' ? resolution : undefined;
}

export function Chart(props: {
  t: number[];
  v: (number | null)[];
  min?: (number | null)[];
  max?: (number | null)[];
  label: string;
  /** The range shown, epoch ms (a chart of one point still spans its whole range). */
  from: number;
  to: number;
  /** The time axis' name in the legend, in the page's language. */
  timeLabel: string;
  /** Labels of the band's edges, in the page's language. */
  bandLabels?: [string, string];
  unit: string;
  /** The values are totals per hour or per day (see totalPer): the unit reads mm/時間, mm/日. */
  totalPer?: 'hour' | 'day';
  timeZone: string;
}) {
  const el = useRef<HTMLDivElement>(null);
  const { t, lang } = useI18n();
  const unit = props.totalPer
    ? t(props.totalPer === 'hour' ? 'totalPerHour' : 'totalPerDay').replace('{unit}', props.unit)
    : props.unit;
  useEffect(() => {
    const box = el.current;
    if (!box) return;
    const band = props.min && props.max;
    const tick = timeTicks(lang, props.timeZone, props.to - props.from);
    const series: uPlot.Series[] = [
      // The legend's time in the reader's language and the farm's zone.
      {
        label: props.timeLabel,
        value: (_u, v) => (v === null ? '—' : fmtTime(v * 1000, lang, props.timeZone)),
      },
      {
        label: props.label,
        stroke: '#1d6b2f',
        width: 2,
        value: (_u, v) => (v === null ? '—' : `${v.toFixed(2)} ${unit}`),
      },
    ];
    const data: uPlot.AlignedData = [props.t, props.v];
    if (band) {
      const [lo, hi] = props.bandLabels ?? ['min', 'max'];
      series.push({ label: lo, stroke: '#9bbf9f', width: 1 }, { label: hi, stroke: '#9bbf9f', width: 1 });
      data.push(props.min!, props.max!);
    }
    const width = () => Math.max(280, box.clientWidth);
    const u = new uPlot(
      {
        width: width(),
        height: 220,
        series,
        bands: band ? [{ series: [3, 2], fill: 'rgba(29,107,47,0.12)' }] : [],
        scales: { x: { time: true, range: [props.from / 1000, props.to / 1000] } },
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), props.timeZone),
        axes: [
          // Ticks in the reader's language and the farm's zone (uPlot's default: US English).
          { values: (_u, splits) => splits.map((s) => tick(s * 1000)) },
          { label: unit, size: 56 },
        ],
        legend: { show: true },
      },
      data,
      box,
    );
    const ro = new ResizeObserver(() => u.setSize({ width: width(), height: 220 }));
    ro.observe(box);
    return () => {
      ro.disconnect();
      u.destroy();
    };
  }, [
    props.t,
    props.v,
    props.min,
    props.max,
    props.label,
    unit,
    props.timeZone,
    props.bandLabels?.join(),
    lang,
  ]);
  return (
    <div
      ref={el}
      class="chart"
      role="img"
      aria-label={props.totalPer ? `${props.label} (${unit})` : props.label}
    />
  );
}
