// A hand-driven clock for the automation engine and the simulated valve: time stands still until
// the test advances it, and then every timer that fell due runs in time order (timers a timer
// sets run too when they fall inside the step). Minutes of valve time pass in microseconds.
import type { EngineClock } from '../../../gateway/automations/clock.ts';

interface Timer {
  id: number;
  at: number;
  fn: () => void;
}

export class ManualClock implements EngineClock {
  private t: number;
  private nextId = 1;
  private timers: Timer[] = [];

  constructor(start: number) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const timer = { id: this.nextId++, at: this.t + Math.max(0, ms), fn };
    this.timers.push(timer);
    return timer.id;
  }

  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((x) => x.id !== handle);
  }

  /** Timers waiting, with their due times (for assertions). */
  pending(): number[] {
    return this.timers.map((x) => x.at).sort((a, b) => a - b);
  }

  /** Moves time forward by `ms`, running each timer at its due time. */
  advance(ms: number): void {
    this.advanceTo(this.t + ms);
  }

  advanceTo(target: number): void {
    for (;;) {
      const due = this.timers.filter((x) => x.at <= target).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.timers = this.timers.filter((x) => x !== due);
      this.t = Math.max(this.t, due.at);
      due.fn();
    }
    this.t = Math.max(this.t, target);
  }
}
