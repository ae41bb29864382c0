// Accounts: every user's own page (#/account: who they are signed in as, and a password change that
// ends their other sessions) and the admin's page (#/admin/users: the accounts with their role,
// farms or regions, state, last sign-in and open sessions; creating one, resetting a password,
// disabling or enabling, lifting a sign-in lock, deleting — never one's own account, never the last
// admin — and the newest account changes from the audit log).
import { useRef, useState } from 'preact/hooks';
import { api, ApiError } from '../api.ts';
import { useI18n } from '../i18n.ts';
import { fmtTime } from '../format.ts';
import { ErrorBox, fill as fillParts, Loading, Section, useLoad } from '../components/common.tsx';
import type { Me } from '../main.tsx';

type Role = Me['role'];
const ROLES: readonly Role[] = ['farmer', 'officer', 'partner', 'admin'];
/** The shortest password the server takes (dashboard/auth.ts MIN_PASSWORD_LENGTH). */
const MIN_PASSWORD = 10;

/** An account as GET /api/v1/admin/users gives it (dashboard/routes/users.ts AccountView). */
interface AccountRow {
  name: string;
  role: Role;
  farms: string[];
  regions: string[];
  disabled: string | null;
  created: string;
  lastLogin: string | null;
  sessions: number;
  lockedForS: number;
}

/** One entry of GET /api/v1/admin/account-audit. */
interface AuditRow {
  seq: number;
  at: string;
  actor: string;
  action: string;
  target: string;
}

type T = (key: string) => string;
/** A sentence about an account ({name} in it), worded in the reader's language when shown. */
interface Said {
  text: (t: T) => string;
  name: string;
}
const enc = encodeURIComponent;

function roleName(role: string, t: T): string {
  if (role === 'farmer') return t('roleFarmer');
  if (role === 'officer') return t('roleOfficer');
  if (role === 'partner') return t('rolePartner');
  if (role === 'admin') return t('roleAdmin');
  return role;
}

/** An action of the account audit log in words (each key named, so the catalogue test sees it). */
function auditAction(action: string, t: T): string {
  switch (action) {
    case 'created':
      return t('auditCreated');
    case 'updated':
      return t('auditUpdated');
    case 'password_reset':
      return t('auditPasswordReset');
    case 'password_changed':
      return t('auditPasswordChanged');
    case 'disabled':
      return t('auditDisabled');
    case 'enabled':
      return t('auditEnabled');
    case 'unlocked':
      return t('auditUnlocked');
    case 'deleted':
      return t('auditDeleted');
    default:
      return action;
  }
}

/** A new password's input: the length the server requires, offered to password managers as new. */
function NewPassword({ name, invalid }: { name: string; invalid?: boolean }) {
  return (
    <input
      name={name}
      type="password"
      autoComplete="new-password"
      required
      minLength={MIN_PASSWORD}
      maxLength={256}
      aria-invalid={invalid}
    />
  );
}

const fill = (text: string, values: Record<string, string>) =>
  text.replace(/\{([a-z]+)\}/g, (m, k: string) => values[k] ?? m);

const commaList = (s: string) =>
  s
    .split(/[,、\s]+/)
    .map((x) => x.trim())
    .filter(Boolean);

/** Every signed-in user's own page: who they are, and a change of their password. */
export function AccountPage({ me }: { me: Me }) {
  const { t } = useI18n();
  const [error, setError] = useState<unknown>(null);
  const [mismatch, setMismatch] = useState(false);
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const next = String(data.get('password') ?? '');
    setDone(false);
    setError(null);
    if (next !== String(data.get('again') ?? '')) {
      setMismatch(true);
      return;
    }
    setMismatch(false);
    setBusy(true);
    try {
      await api('/api/v1/auth/password', {
        method: 'POST',
        body: { current: String(data.get('current') ?? ''), password: next },
      });
      form.reset();
      setDone(true);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const wrongCurrent = error instanceof ApiError && error.status === 403;
  return (
    <main id="main" tabIndex={-1}>
      <h1>{t('accountTitle')}</h1>
      <p>
        {fillParts(t('accountSignedInAs'), {
          name: <span translate={false}>{me.user}</span>,
          role: roleName(me.role, t),
        })}
      </p>
      <Section title={t('passwordChange')} id="password-h">
        <form onSubmit={(e) => void submit(e)} data-testid="password-form">
          <label>
            {t('passwordCurrent')}
            <input
              name="current"
              type="password"
              autoComplete="current-password"
              required
              maxLength={256}
              aria-invalid={wrongCurrent}
            />
          </label>
          <label>
            {t('passwordNew')}
            <NewPassword name="password" />
          </label>
          <label>
            {t('passwordAgain')}
            <NewPassword name="again" invalid={mismatch} />
          </label>
          <div class="actions">
            <button type="submit" class="primary" disabled={busy}>
              {t('passwordSave')}
            </button>
          </div>
        </form>
        {mismatch ? (
          <p class="error" role="alert">
            {t('passwordMismatch')}
          </p>
        ) : null}
        {wrongCurrent ? (
          <p class="error" role="alert">
            {t('passwordWrongCurrent')}
          </p>
        ) : (
          <ErrorBox error={error} />
        )}
        {done ? (
          <p role="status" class="ok">
            {t('passwordChanged')}
          </p>
        ) : null}
      </Section>
    </main>
  );
}

/** The admin's page of accounts. */
export function AdminUsers({ me }: { me: Me }) {
  const { t, lang } = useI18n();
  const list = useLoad(() => api<AccountRow[]>('/api/v1/admin/users'), 'admin-users');
  const audit = useLoad(() => api<AuditRow[]>('/api/v1/admin/account-audit?limit=30'), 'account-audit');
  /** What the last action did, said under the heading: a sentence (worded at render) and the account. */
  const [said, setSaid] = useState<Said | null>(null);
  const [error, setError] = useState<unknown>(null);
  /** The account whose password form is open, or ''. */
  const [resetting, setResetting] = useState('');
  /** The account whose deletion waits for confirmation, or ''. */
  const [confirmDelete, setConfirmDelete] = useState('');
  const [busy, setBusy] = useState(false);
  const keepButton = useRef<HTMLButtonElement>(null);
  const [role, setRole] = useState<Role>('farmer');

  if (me.role !== 'admin')
    return (
      <main id="main" tabIndex={-1}>
        <h1>{t('usersTitle')}</h1>
        <p class="error">{t('error_HATAKE_E_FORBIDDEN')}</p>
      </main>
    );

  /** Runs one action; on success says `message` and reloads the list and the log. */
  const act = async (run: () => Promise<unknown>, message: Said): Promise<boolean> => {
    if (busy) return false;
    setBusy(true);
    setSaid(null);
    setError(null);
    try {
      await run();
      setSaid(message);
      list.reload();
      audit.reload();
      return true;
    } catch (e) {
      setError(e);
      return false;
    } finally {
      setBusy(false);
    }
  };

  const create = async (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const name = String(data.get('name') ?? '').trim();
    const scope = commaList(String(data.get('scope') ?? ''));
    const ok = await act(
      () =>
        api('/api/v1/admin/users', {
          method: 'POST',
          body: {
            name,
            role,
            password: String(data.get('password') ?? ''),
            ...(role === 'officer' ? { regions: scope } : role === 'admin' ? {} : { farms: scope }),
          },
        }),
      { text: (t) => t('usersCreated'), name },
    );
    if (ok) form.reset();
  };

  const reset = async (e: Event, name: string) => {
    e.preventDefault();
    const password = String(new FormData(e.currentTarget as HTMLFormElement).get('password') ?? '');
    const ok = await act(
      () => api(`/api/v1/admin/users/${enc(name)}/password`, { method: 'PUT', body: { password } }),
      { text: (t) => t('usersResetDone'), name },
    );
    if (ok) setResetting('');
  };

  const setDisabled = (name: string, disabled: boolean) =>
    void act(() => api(`/api/v1/admin/users/${enc(name)}/disabled`, { method: 'PUT', body: { disabled } }), {
      text: (t) => t(disabled ? 'usersDisabledDone' : 'usersEnabledDone'),
      name,
    });

  const unlock = (name: string) =>
    void act(() => api(`/api/v1/admin/users/${enc(name)}/lock`, { method: 'DELETE' }), {
      text: (t) => t('usersUnlockedDone'),
      name,
    });

  const remove = async (name: string) => {
    const ok = await act(() => api(`/api/v1/admin/users/${enc(name)}`, { method: 'DELETE' }), {
      text: (t) => t('usersDeletedDone'),
      name,
    });
    if (ok) setConfirmDelete('');
  };

  const askDelete = (name: string) => {
    setSaid(null);
    setError(null);
    setConfirmDelete(name);
    // The safe choice takes the focus: a second Enter keeps the account.
    setTimeout(() => keepButton.current?.focus(), 0);
  };

  const lastAdmin =
    error instanceof ApiError && error.status === 409 && error.code === 'HATAKE_E_STATE_CONFLICT';
  const accounts = list.data ?? [];
  return (
    <main id="main" tabIndex={-1}>
      <h1>{t('usersTitle')}</h1>
      {said ? (
        <p role="status" class="ok" data-testid="users-said">
          {fillParts(said.text(t), { name: <span translate={false}>{said.name}</span> })}
        </p>
      ) : null}
      {lastAdmin ? (
        <p class="error" role="alert">
          {t('usersLastAdmin')}
        </p>
      ) : (
        <ErrorBox error={error} />
      )}
      <Section title={t('usersNew')} id="users-new-h">
        <form onSubmit={(e) => void create(e)} data-testid="user-create">
          <label>
            {t('username')}
            <input
              name="name"
              required
              maxLength={64}
              pattern="[A-Za-z0-9][A-Za-z0-9._@\-]{0,63}"
              autoComplete="off"
              spellcheck={false}
            />
          </label>
          <label>
            {t('usersRole')}
            <select
              name="role"
              value={role}
              onChange={(e) => setRole((e.target as HTMLSelectElement).value as Role)}
            >
              {ROLES.map((r) => (
                <option key={r} value={r}>
                  {roleName(r, t)}
                </option>
              ))}
            </select>
          </label>
          {role === 'admin' ? null : (
            <label>
              {role === 'officer' ? t('usersRegions') : t('usersFarms')}
              <input name="scope" autoComplete="off" spellcheck={false} />
            </label>
          )}
          <label>
            {t('usersInitialPassword')}
            <NewPassword name="password" />
          </label>
          <div class="actions">
            <button type="submit" class="primary" disabled={busy}>
              {t('usersCreate')}
            </button>
          </div>
        </form>
      </Section>
      <Section title={t('usersList')} id="users-list-h">
        {list.firstLoading ? <Loading /> : null}
        <ErrorBox error={list.error} />
        <div class="scroll" tabIndex={0} role="region" aria-labelledby="users-list-h">
          {/* On a phone each account is a card (each value beside its heading, `data-label`). */}
          <table class="table cards" data-testid="users">
            <thead>
              <tr>
                <th scope="col">{t('username')}</th>
                <th scope="col">{t('usersRole')}</th>
                <th scope="col">{t('usersScope')}</th>
                <th scope="col">{t('usersState')}</th>
                <th scope="col">{t('usersLastLogin')}</th>
                <th scope="col">{t('usersSessions')}</th>
                <th scope="col">{t('usersActions')}</th>
              </tr>
            </thead>
            <tbody>
              {accounts.map((a) => {
                const self = a.name === me.user;
                return (
                  <tr key={a.name} data-testid={`user-${a.name}`} class={a.disabled ? 'stale-row' : ''}>
                    <th scope="row" id={`user-row-${a.name}`}>
                      <span translate={false}>{a.name}</span>
                      {self ? <span class="muted"> {t('usersYou')}</span> : null}
                    </th>
                    <td data-label={t('usersRole')}>{roleName(a.role, t)}</td>
                    <td data-label={t('usersScope')}>
                      <span translate={false}>
                        {(a.role === 'officer' ? a.regions : a.farms).join(', ') || '—'}
                      </span>
                    </td>
                    <td data-label={t('usersState')}>
                      <span class={a.disabled ? 'badge warn' : 'badge state-ok'} data-testid="user-state">
                        {a.disabled ? t('usersDisabled') : t('usersEnabled')}
                      </span>
                      {a.lockedForS > 0 ? (
                        <span class="sub">
                          {fill(t('usersLocked'), { min: String(Math.ceil(a.lockedForS / 60)) })}
                        </span>
                      ) : null}
                    </td>
                    <td data-label={t('usersLastLogin')}>
                      {a.lastLogin ? fmtTime(a.lastLogin, lang) : t('usersNever')}
                    </td>
                    <td data-label={t('usersSessions')}>{a.sessions}</td>
                    <td data-label={t('usersActions')}>
                      <div>
                        <div class="actions">
                          <button
                            type="button"
                            aria-expanded={resetting === a.name}
                            aria-describedby={`user-row-${a.name}`}
                            onClick={() => setResetting(resetting === a.name ? '' : a.name)}
                          >
                            {t('usersResetPassword')}
                          </button>
                          {self ? null : (
                            <button
                              type="button"
                              aria-describedby={`user-row-${a.name}`}
                              disabled={busy}
                              onClick={() => setDisabled(a.name, !a.disabled)}
                            >
                              {a.disabled ? t('usersEnable') : t('usersDisable')}
                            </button>
                          )}
                          {a.lockedForS > 0 ? (
                            <button
                              type="button"
                              aria-describedby={`user-row-${a.name}`}
                              disabled={busy}
                              onClick={() => unlock(a.name)}
                            >
                              {t('usersUnlock')}
                            </button>
                          ) : null}
                          {self ? null : (
                            <button
                              type="button"
                              class="danger"
                              aria-describedby={`user-row-${a.name}`}
                              aria-expanded={confirmDelete === a.name}
                              onClick={() => askDelete(a.name)}
                            >
                              {t('usersDelete')}
                            </button>
                          )}
                        </div>
                        {resetting === a.name ? (
                          <form onSubmit={(e) => void reset(e, a.name)} data-testid="user-reset">
                            <label>
                              {t('passwordNew')}
                              <NewPassword name="password" />
                            </label>
                            <div class="actions">
                              <button type="submit" class="primary" disabled={busy}>
                                {t('usersResetPassword')}
                              </button>
                              <button type="button" onClick={() => setResetting('')}>
                                {t('cancel')}
                              </button>
                            </div>
                          </form>
                        ) : null}
                        {confirmDelete === a.name ? (
                          <div
                            class="confirm"
                            role="group"
                            aria-labelledby={`user-delete-q-${a.name}`}
                            data-testid="user-delete-confirm"
                          >
                            <p id={`user-delete-q-${a.name}`} class="warn">
                              {fillParts(t('usersDeleteConfirm'), {
                                name: <span translate={false}>{a.name}</span>,
                              })}
                            </p>
                            <div class="actions">
                              <button
                                type="button"
                                class="danger"
                                disabled={busy}
                                onClick={() => void remove(a.name)}
                              >
                                {t('usersDeleteYes')}
                              </button>
                              <button type="button" ref={keepButton} onClick={() => setConfirmDelete('')}>
                                {t('cancel')}
                              </button>
                            </div>
                          </div>
                        ) : null}
                      </div>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      </Section>
      <Section title={t('usersAudit')} id="users-audit-h">
        <ErrorBox error={audit.error} />
        {audit.data?.length === 0 ? <p class="muted">{t('usersAuditEmpty')}</p> : null}
        {audit.data?.length ? (
          <div class="scroll" tabIndex={0} role="region" aria-labelledby="users-audit-h">
            <table class="table" data-testid="account-audit">
              <thead>
                <tr>
                  <th scope="col">{t('usersAuditAt')}</th>
                  <th scope="col">{t('usersAuditActor')}</th>
                  <th scope="col">{t('usersAuditTarget')}</th>
                  <th scope="col">{t('usersAuditAction')}</th>
                </tr>
              </thead>
              <tbody>
                {audit.data.map((e) => (
                  <tr key={e.seq}>
                    <td>
                      <time dateTime={e.at}>{fmtTime(e.at, lang)}</time>
                    </td>
                    <td translate={false}>{e.actor}</td>
                    <td translate={false}>{e.target}</td>
                    <td>{auditAction(e.action, t)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : null}
      </Section>
    </main>
  );
}
