// The dashboard's web app: one page for farmers, extension officers and IT partners. It signs in,
// learns the user's role and farms from /auth/me, and shows the views of that role. Japanese by
// default, English on a switch; everything is bundled at build time (dashboard/ui/vite.config.ts).
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, setCsrf, SIGNED_OUT } from './api.ts';
import { I18nProvider, useI18n } from './i18n.ts';
import { href, navigate, useRoute } from './route.ts';
import { Loading, useLoad } from './components/common.tsx';
import type { FarmView } from '../../protocol/api.ts';
import { Login } from './pages/login.tsx';
import {
  FarmHome,
  FieldPage,
  FarmerTips,
  FarmerRecommendations,
  FarmerAutomations,
} from './pages/farmer.tsx';
import { ReviewQueue, ReviewPage, RegionPage } from './pages/officer.tsx';
import { PartnerFarm, ProvisionPage } from './pages/partner.tsx';
import { AccountPage, AdminUsers } from './pages/admin-users.tsx';
import './style.css';

export interface Me {
  user: string;
  role: 'farmer' | 'officer' | 'partner' | 'admin';
  farms: string[];
  regions: string[];
  csrf: string;
}

function Header({ me, onLogout }: { me: Me | null; onLogout: () => void }) {
  const { t, lang, setLang } = useI18n();
  const [section, shown] = useRoute();
  // The farm the page shows, when it is one of the user's: the links go on within it. A user with
  // several farms reaches the others from the farm list (the first link).
  const farm =
    (section === 'farm' || section === 'partner') && shown && me?.farms.includes(shown)
      ? shown
      : me?.farms[0];
  const links: Array<[string, string]> = [];
  if (me && me.farms.length > 1) links.push([href(), t('farms')]);
  if (me && farm && (me.role === 'farmer' || me.role === 'admin')) {
    links.push([href('farm', farm), t('navHome')]);
    links.push([href('farm', farm, 'tips'), t('navTips')]);
    links.push([href('farm', farm, 'recommendations'), t('navRecommendations')]);
    links.push([href('farm', farm, 'automations'), t('navAutomations')]);
  }
  if (me && (me.role === 'officer' || me.role === 'admin')) {
    links.push([href('review'), t('navReview')]);
    links.push([href('region'), t('navRegion')]);
  }
  if (me && farm && (me.role === 'partner' || me.role === 'admin')) {
    links.push([href('partner', farm), t('navDevices')]);
    links.push([href('partner', farm, 'provision'), t('navProvision')]);
  }
  if (me?.role === 'admin') links.push([href('admin', 'users'), t('navUsers')]);
  return (
    <header class="top">
      <a class="brand" href="#/" translate={false}>
        hatake <span lang="ja">畑</span>
      </a>
      {links.length ? (
        <nav aria-label={t('navLabel')}>
          <ul>
            {links.map(([to, label]) => (
              <li key={to}>
                <a href={to}>{label}</a>
              </li>
            ))}
          </ul>
        </nav>
      ) : null}
      <div class="tools">
        <button type="button" class="lang" onClick={() => setLang(lang === 'ja' ? 'en' : 'ja')}>
          <span class="sr-only">{t('switchLanguage')}: </span>
          <span lang={lang === 'ja' ? 'en' : 'ja'} translate={false}>
            {lang === 'ja' ? 'English' : '日本語'}
          </span>
        </button>
        {me ? (
          <a href={href('account')} style={{ alignSelf: 'center' }}>
            {t('navAccount')}
          </a>
        ) : null}
        {me ? (
          <button type="button" onClick={onLogout}>
            {t('logout')}
          </button>
        ) : null}
      </div>
    </header>
  );
}

function Home({ me }: { me: Me }) {
  const { t } = useI18n();
  const names = useLoad(() => api<FarmView[]>('/api/v1/farms'), me.user);
  useEffect(() => {
    if (me.role === 'officer') navigate('review');
    // One farm: straight to it; several: this list, to choose from.
    else if (me.farms.length === 1) navigate(me.role === 'partner' ? 'partner' : 'farm', me.farms[0]!);
  }, [me]);
  return (
    <main id="main">
      <h1>{t('farms')}</h1>
      {me.farms.length === 0 ? <p>{t('noFarms')}</p> : null}
      <ul class="list">
        {me.farms.map((f) => (
          <li key={f}>
            <a href={href(me.role === 'partner' ? 'partner' : 'farm', f)}>
              {names.data?.find((x) => x.id === f)?.name ?? <span translate={false}>{f}</span>}
            </a>
          </li>
        ))}
      </ul>
    </main>
  );
}

function Routes({ me }: { me: Me }) {
  const r = useRoute();
  const [a, b, c, d] = r;
  if (a === 'farm' && b && c === 'field' && d) return <FieldPage farm={b} field={d} role={me.role} />;
  if (a === 'farm' && b && c === 'tips') return <FarmerTips farm={b} />;
  if (a === 'farm' && b && c === 'recommendations') return <FarmerRecommendations farm={b} id={d} />;
  if (a === 'farm' && b && c === 'automations') return <FarmerAutomations farm={b} />;
  if (a === 'farm' && b) return <FarmHome farm={b} />;
  // Keyed: the next recommendation of the queue starts with nothing typed or said.
  if (a === 'review' && b) return <ReviewPage key={b} id={b} />;
  if (a === 'review') return <ReviewQueue />;
  if (a === 'region') return <RegionPage />;
  if (a === 'partner' && b && c === 'provision') return <ProvisionPage farm={b} />;
  if (a === 'partner' && b) return <PartnerFarm farm={b} />;
  if (a === 'admin' && b === 'users') return <AdminUsers me={me} />;
  if (a === 'account') return <AccountPage me={me} />;
  return <Home me={me} />;
}

function App() {
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  useEffect(() => {
    api<Me>('/api/v1/auth/me').then(
      (m) => {
        setCsrf(m.csrf);
        setMe(m);
      },
      // Signed out (401) or the server unreachable: either way, the sign-in form.
      () => setMe(null),
    );
  }, []);
  useEffect(() => {
    const out = () => setMe(null);
    window.addEventListener(SIGNED_OUT, out);
    return () => window.removeEventListener(SIGNED_OUT, out);
  }, []);
  const logout = async () => {
    await api('/api/v1/auth/logout', { method: 'POST' }).catch(() => undefined);
    setMe(null);
    location.hash = '';
  };
  return (
    <>
      <a
        class="skip"
        href="#main"
        onClick={(e) => (e.preventDefault(), document.getElementById('main')?.focus())}
      >
        <SkipLabel />
      </a>
      <Header me={me ?? null} onLogout={() => void logout()} />
      {me === undefined ? (
        <main id="main">
          <Loading />
        </main>
      ) : me === null ? (
        <Login
          onLogin={(m) => {
            setCsrf(m.csrf);
            setMe(m);
          }}
        />
      ) : (
        <Routes me={me} />
      )}
    </>
  );
}

function SkipLabel() {
  const { t } = useI18n();
  return <>{t('skipToContent')}</>;
}

render(
  <I18nProvider>
    <App />
  </I18nProvider>,
  document.getElementById('app')!,
);
