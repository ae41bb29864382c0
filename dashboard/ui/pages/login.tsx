// Sign-in: a plain form with labels, the error announced to screen readers.
import { useState } from 'preact/hooks';
import { api, ApiError, errorMessage } from '../api.ts';
import { useI18n } from '../i18n.ts';
import type { Me } from '../main.tsx';

export function Login({ onLogin }: { onLogin: (me: Me) => void }) {
  const { t } = useI18n();
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    setBusy(true);
    setError('');
    try {
      const me = await api<Me>('/api/v1/auth/login', {
        method: 'POST',
        body: { username: String(form.get('username') ?? ''), password: String(form.get('password') ?? '') },
      });
      onLogin(me);
    } catch (err) {
      setError(
        err instanceof ApiError && err.status === 429
          ? t('tooManyAttempts')
          : err instanceof ApiError && err.status === 401
            ? t('loginFailed')
            : errorMessage(err, t).message,
      );
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
          {error}
        </p>
      </form>
    </main>
  );
}
