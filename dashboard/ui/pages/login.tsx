// Sign-in: a plain form with labels, the error announced to screen readers. The error is kept as
// what went wrong and worded when shown, so it reads in the language chosen after it.
import { useState } from 'preact/hooks';
import { api, ApiError, errorMessage } from '../api.ts';
import { useI18n } from '../i18n.ts';
import type { Me } from '../main.tsx';

/** Why a sign-in failed, in the reader's words. */
function loginError(err: unknown, t: (key: string) => string): string {
  if (err instanceof ApiError && err.status === 429) return t('tooManyAttempts');
  if (err instanceof ApiError && err.status === 401) return t('loginFailed');
  return errorMessage(err, t).message;
}

export function Login({ onLogin }: { onLogin: (me: Me) => void }) {
  const { t } = useI18n();
  /** What went wrong with the last try (null: nothing), worded at render. */
  const [error, setError] = useState<{ err: unknown } | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    setBusy(true);
    setError(null);
    try {
      const me = await api<Me>('/api/v1/auth/login', {
        method: 'POST',
        body: { username: String(form.get('username') ?? ''), password: String(form.get('password') ?? '') },
      });
      onLogin(me);
    } catch (err) {
      setError({ err });
    } finally {
      setBusy(false);
    }
  };
  return (
    <main id="main" tabIndex={-1}>
      <form class="card login" onSubmit={(e) => void submit(e)}>
        <h1>{t('signIn')}</h1>
        <label>
          {t('username')}
          <input name="username" autoComplete="username" required maxLength={64} />
        </label>
        <label>
          {t('password')}
          <input name="password" type="password" autoComplete="current-password" required maxLength={256} />
        </label>
        <button type="submit" class="primary" disabled={busy}>
          {t('signIn')}
        </button>
        <p class="error" role="alert">
          {error ? loginError(error.err, t) : ''}
        </p>
      </form>
    </main>
  );
}
