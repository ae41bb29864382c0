// Benchmark rows: every figure beside its peer measured in the same run, with the ratio and the
// target. A script prints its rows as a table and, for `npm run bench`, as JSON lines on fd 3
// when BENCH_JSON is set.
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';

export interface BenchRow {
  figure: string;
  unit: string;
  hatake: number;
  peer: number | null;
  peerName: string;
  /** hatake / peer, or the figure's own comparison when `better` says lower is better. */
  better: 'higher' | 'lower';
  target: string;
  met: boolean | null;
}

/** The middle value (the mean of the two middle ones for an even count): a round's burst of load moves one value, not the figure. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

export function ratio(r: BenchRow): number | null {
  if (r.peer === null || r.peer === 0) return null;
  return r.hatake / r.peer;
}

const fmt = (n: number | null) =>
  n === null ? '—' : Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 10 ? n.toFixed(1) : n.toFixed(3);

/** Prints rows as a Markdown table (and appends them to BENCH_JSON when set). */
export function report(title: string, rows: BenchRow[]): void {
  const lines = [
    `\n### ${title}\n`,
    '| figure | hatake | peer | ratio | target | met |',
    '|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.figure} (${r.unit}) | ${fmt(r.hatake)} | ${r.peer === null ? '—' : `${fmt(r.peer)} (${r.peerName})`} | ${fmt(ratio(r))} | ${r.target} | ${r.met === null ? '—' : r.met ? 'yes' : 'no'} |`,
    ),
  ];
  process.stdout.write(lines.join('\n') + '\n');
  if (process.env.BENCH_JSON)
    for (const r of rows) appendFileSync(process.env.BENCH_JSON, JSON.stringify({ title, ...r }) + '\n');
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime
  return ticks / 100; // USER_HZ is 100 on Linux
}

/**
 * Bytes a process has caused to be written to storage (/proc/PID/io write_bytes, counted when it
 * dirties a page: its WAL appends, checkpoints and file writes — what wears an SD card).
 */
export function writtenBytes(pid: number): number {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  return Number(/^write_bytes:\s+(\d+)/m.exec(io)?.[1] ?? 0);
}

/** Resident set size of a process in MB, from /proc. */
export function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

/** Peak RSS (VmHWM) of a process in MB. */
export function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

/** CPU seconds (user + system) of each live thread of a process, by thread id, with its name. */
export function threadCpuSeconds(pid: number): Map<number, { name: string; seconds: number }> {
  const out = new Map<number, { name: string; seconds: number }>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended between the listing and the read
    }
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.set(Number(tid), { name, seconds: (Number(fields[11]) + Number(fields[12])) / 100 });
  }
  return out;
}
