// Small pieces every page uses: loading and error states, freshness that ages on screen, rates in
// both units, and a data hook that refetches when its key changes.
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { errorMessage } from '../api.ts';
import { useI18n } from '../i18n.ts';
import { fmtAgo, fmtTime, isClockAhead, rateParts, staleAfterMs } from '../format.ts';

/**
 * The time now, for relative times that keep aging on screen: the component renders again every
 * `ms`, and every render — that one, or one for new data — reads the clock afresh. (A clock kept
 * in state and ticked every 15 s was up to 15 s behind a reading that had just arrived, which then
 * read "10 秒後".)
 */
/** A translated sentence with its {placeholders} filled by elements (data marked translate="no"). */
export function fill(text: string, parts: Record<string, ComponentChildren>): ComponentChildren[] {
  return text.split(/\{([a-z]+)\}/).map((piece, i) => (i % 2 === 1 ? (parts[piece] ?? piece) : piece));
}

export function useNow(ms = 15_000): number {
  const [, setTick] = useState(0);
  useEffect(() => {
    const id = setInterval(() => setTick((n) => n + 1), ms);
    return () => clearInterval(id);
  }, [ms]);
  return Date.now();
}

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  /**
   * Loading with nothing to show yet (the key's first load, or a reload after an error): a list
   * says 「読み込み中…」 only then. A reload keeps its data on the page and says nothing, so the
   * cards do not move down under a finger pressing one of them.
   */
  firstLoading: boolean;
  reload: () => void;
  set: (v: T) => void;
}

/** Loads data with `fn` whenever `key` changes. */
export function useLoad<T>(fn: () => Promise<T>, key: string): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean; key: string }>({
    loading: true,
    key,
  });
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    fn().then(
      (data) => live && setState({ data, loading: false, key }),
      (error: unknown) => live && setState({ error, loading: false, key }),
    );
    return () => {
      live = false;
    };
  }, [key, n]);
  const reload = useCallback(() => setN((x) => x + 1), []);
  const set = useCallback((data: T) => setState({ data, loading: false, key }), [key]);
  // A reload keeps showing the data it refreshes; another key never shows the last key's data
  // (one automation's log under another's card) while its own loads.
  const current = state.key === key;
  return {
    data: current ? state.data : undefined,
    error: current ? state.error : undefined,
    loading: current ? state.loading : true,
    firstLoading: current ? state.loading && state.data === undefined : true,
    reload,
    set,
  };
}

/** A form field's problem under it, tied to the control by aria-describedby (`id`). */
export function FieldError({ id, message }: { id: string; message: string | undefined }) {
  return message ? (
    <p class="error field-error" id={id}>
      {message}
    </p>
  ) : null;
}

export function Loading() {
  const { t } = useI18n();
  return (
    <p class="muted" role="status">
      {t('loading')}
    </p>
  );
}

/**
 * An error in place (see errorMessage): what went wrong in the reader's language and its code, then
 * the server's own English words and what it expected as the detail (marked, as on a manifest problem).
 */
export function ErrorBox({ error }: { error: unknown }) {
  const { t } = useI18n();
  if (!error) return null;
  const { message, code, reason, expected, detail } = errorMessage(error, t);
  return (
    <p class="error" role="alert" title={detail}>
      {message}
      {code ? (
        <>
          {' '}
          <code translate={false}>{code}</code>
        </>
      ) : null}
      {reason ? (
        <span class="sub" data-testid="error-reason">
          {t('serverDetail')}{' '}
          <span translate={false} lang="en">
            {reason}
          </span>
          {expected ? (
            <>
              {' '}
              — {t('expected')}{' '}
              <span translate={false} lang="en">
                {expected}
              </span>
            </>
          ) : null}
        </span>
      ) : null}
    </p>
  );
}

/**
 * How old a value is; marked stale past `staleMs`, else past 3 of the device's reporting intervals
 * (`intervalS`, its kit's; the server's rule for a silent device), else past 15 minutes. A time a
 * little ahead of the page's clock reads "今"; one further ahead than clock skew explains
 * (FUTURE_TOLERANCE_MS) keeps its future wording and is marked as the device's clock running ahead.
 */
export function Freshness({
  time,
  staleMs,
  intervalS,
}: {
  time: string | null | undefined;
  staleMs?: number;
  /** The device's reporting interval in seconds; null or absent: not known. */
  intervalS?: number | null;
}) {
  const { lang, t } = useI18n();
  const now = useNow();
  if (!time) return <span class="fresh stale">{t('noData')}</span>;
  const stale = now - Date.parse(time) > (staleMs ?? staleAfterMs(intervalS));
  const ahead = isClockAhead(time, now);
  return (
    <time
      class={stale || ahead ? 'fresh stale' : 'fresh'}
      dateTime={time}
      title={fmtTime(time, lang)}
      data-clock-ahead={ahead ? '' : undefined}
    >
      {stale ? `${t('stale')} · ` : ''}
      {ahead ? `${t('clockAhead')} · ` : ''}
      {fmtAgo(time, lang, now)}
    </time>
  );
}

/** A rate in kg/ha as "12.3 kg/10a (123 kg/ha)" in Japanese, the other way round in English. */
export function Rate({ kgHa, n }: { kgHa: number; n?: boolean }) {
  const { lang, t } = useI18n();
  const [a, b] = rateParts(kgHa, lang);
  return (
    <span class="rate">
      {n ? <span class="rate-n">{t('nitrogen')} </span> : null}
      <span translate={false} class="rate-main">
        {a}
      </span>{' '}
      <span translate={false} class="rate-alt">
        ({b})
      </span>
    </span>
  );
}

export function Section({
  title,
  children,
  id,
}: {
  title: string;
  children: ComponentChildren;
  id?: string;
}) {
  return (
    <section class="card" aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {children}
    </section>
  );
}

/** Saves bytes as a file through a temporary object URL (nothing leaves the browser). */
export function saveBlob(name: string, data: BlobPart, type: string): void {
  const url = URL.createObjectURL(new Blob([data], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function base64Bytes(b64: string): Uint8Array<ArrayBuffer> {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
