// A live stream (GET /api/v1/live, server-sent events) read as it comes, for tests: each event's
// name and parsed data, in order, until the stream ends or is closed.
export interface LiveEvent {
  event: string;
  data: unknown;
}

export function readLive(res: Response): { events: LiveEvent[]; close(): Promise<void> } {
  const reader = res.body!.getReader();
  const events: LiveEvent[] = [];
  let text = '';
  const reading = (async () => {
    for (;;) {
      const chunk = await reader.read().catch(() => undefined);
      if (!chunk || chunk.done) return;
      text += new TextDecoder().decode(chunk.value);
      let end;
      while ((end = text.indexOf('\n\n')) >= 0) {
        const block = text.slice(0, end).split('\n');
        text = text.slice(end + 2);
        const event = block.find((l) => l.startsWith('event: '))?.slice(7);
        const data = block.find((l) => l.startsWith('data: '))?.slice(6);
        if (event !== undefined && data !== undefined) events.push({ event, data: JSON.parse(data) });
      }
    }
  })();
  return {
    events,
    async close() {
      await reader.cancel().catch(() => undefined);
      await reading;
    },
  };
}
