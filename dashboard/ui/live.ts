// Live readings over Server-Sent Events: the browser's EventSource reconnects by itself; a page
// subscribes with a callback and gets every reading of the farms its user may see.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { LiveReadingEvent } from '../../protocol/api.ts';

export function useLive(onReading: (e: LiveReadingEvent) => void): 'connecting' | 'open' | 'closed' {
  const cb = useRef(onReading);
  cb.current = onReading;
  const [state, setState] = useState<'connecting' | 'open' | 'closed'>('connecting');
  useEffect(() => {
    const es = new EventSource('/api/v1/live');
    es.onopen = () => setState('open');
    es.onerror = () => setState(es.readyState === EventSource.CLOSED ? 'closed' : 'connecting');
    es.addEventListener('reading', (m) => {
      try {
        cb.current(JSON.parse((m as MessageEvent<string>).data) as LiveReadingEvent);
      } catch {
        // A malformed event is ignored; the next one updates the tile.
      }
    });
    return () => es.close();
  }, []);
  return state;
}
