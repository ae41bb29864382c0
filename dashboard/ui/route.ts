// A hash router: the page is always index.html, the route lives after '#', so the server needs no
// fallback rule and a bookmark or a shared link opens the same view.
import { useEffect, useState } from 'preact/hooks';

/** The current route as path segments, e.g. ['farm', 'demo-farm', 'field', 'paddy-1']. */
export function currentRoute(): string[] {
  return location.hash
    .replace(/^#\/?/, '')
    .split('/')
    .filter((s) => s.length > 0)
    .map((s) => decodeURIComponent(s));
}

export function useRoute(): string[] {
  const [route, setRoute] = useState(currentRoute);
  useEffect(() => {
    const on = () => setRoute(currentRoute());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}

/** A link target for a route. */
export const href = (...segments: string[]): string => `#/${segments.map(encodeURIComponent).join('/')}`;

export function navigate(...segments: string[]): void {
  location.hash = href(...segments);
}
