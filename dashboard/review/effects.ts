// Side effects that must follow a committed transaction, never precede it: live 'change' events
// for browsers and a nudge to the webhook dispatcher. Routes flush right after their transaction;
// sync appliers (which run inside the sync batch's transaction) flush on the next turn of the
// event loop, after the batch committed — or rolled back, in which case a page refreshes for
// nothing and the dispatcher finds no new delivery, both harmless.
import type { LiveHub } from '../live.ts';

export interface ChangeEvent {
  farm: string;
  kind: string;
  id: string;
}

export class Effects {
  private readonly live: LiveHub;
  private readonly kickWebhooks: () => void;
  private changes: ChangeEvent[] = [];
  private webhooks = false;
  private scheduled = false;

  constructor(live: LiveHub, kickWebhooks: () => void) {
    this.live = live;
    this.kickWebhooks = kickWebhooks;
  }

  change(farm: string, kind: string, id: string): void {
    this.changes.push({ farm, kind, id });
  }

  webhookQueued(): void {
    this.webhooks = true;
  }

  /** Emits everything collected so far. */
  flush(): void {
    const changes = this.changes;
    this.changes = [];
    for (const c of changes) this.live.emit('change', c);
    if (this.webhooks) {
      this.webhooks = false;
      this.kickWebhooks();
    }
  }

  /** Flushes on the next turn of the event loop (for code running inside someone else's transaction). */
  flushLater(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }
}
