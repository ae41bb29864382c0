// hatake's first page: sign in, see farms → fields → devices with their latest values, updated
// live over Server-Sent Events. Japanese by default; the English switch is remembered.
const T = {
  ja: {
    signin: 'ログイン',
    username: 'ユーザー名',
    password: 'パスワード',
    logout: 'ログアウト',
    lang: 'English',
    nofield: '圃場未設定',
    ago: (s) =>
      s < 60 ? `${s}秒前` : s < 3600 ? `${Math.floor(s / 60)}分前` : `${Math.floor(s / 3600)}時間前`,
    never: '受信なし',
    offline: 'オフライン',
    failed: 'ログインできませんでした',
  },
  en: {
    signin: 'Sign in',
    username: 'User name',
    password: 'Password',
    logout: 'Sign out',
    lang: '日本語',
    nofield: 'No field',
    ago: (s) =>
      s < 60 ? `${s} s ago` : s < 3600 ? `${Math.floor(s / 60)} min ago` : `${Math.floor(s / 3600)} h ago`,
    never: 'never',
    offline: 'offline',
    failed: 'Sign-in failed',
  },
};
const METRIC = {
  soil_vwc: { ja: '土壌水分', en: 'Soil moisture', scale: 100, unit: '%' },
  soil_temperature: { ja: '地温', en: 'Soil temp.', unit: '°C' },
  soil_ec: { ja: '土壌EC', en: 'Soil EC', unit: 'dS/m' },
  air_temperature: { ja: '気温', en: 'Air temp.', unit: '°C' },
  air_humidity: { ja: '湿度', en: 'Humidity', unit: '%' },
  rain: { ja: '降水量', en: 'Rain', unit: 'mm' },
  wind_speed: { ja: '風速', en: 'Wind', unit: 'm/s' },
  solar_radiation: { ja: '日射', en: 'Solar rad.', unit: 'W/m²' },
  leaf_wetness: { ja: '葉面濡れ', en: 'Leaf wetness', unit: '%' },
  water_level: { ja: '水位', en: 'Water level', unit: 'cm' },
  water_temperature: { ja: '水温', en: 'Water temp.', unit: '°C' },
  battery: { ja: '電池', en: 'Battery', unit: 'V' },
};
let lang = localStorage.getItem('hatake.lang') || 'ja';
const t = (k) => T[lang][k];
const $ = (s) => document.querySelector(s);
let state = { farms: [], devices: [] };
let source;

function applyLang() {
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  $('#lang').textContent = t('lang');
  render();
}

function fmt(metric, value, unit) {
  const m = METRIC[metric];
  const v = m?.scale ? value * m.scale : value;
  return `${Number.isInteger(v) ? v : v.toFixed(Math.abs(v) < 10 ? 2 : 1)} ${m?.unit ?? unit}`;
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

function render() {
  const root = $('#farms');
  root.replaceChildren();
  const now = Date.now();
  for (const farm of state.farms) {
    const section = el('section', { class: 'farm' }, el('h2', {}, farm.name));
    const groups = [
      ...farm.fields.map((f) => ({ id: f.id, name: f.name })),
      { id: null, name: t('nofield') },
    ];
    for (const g of groups) {
      const devs = state.devices.filter((d) => d.farm === farm.id && d.field === g.id);
      if (devs.length === 0) continue;
      const list = el('div', { class: 'devices' });
      for (const d of devs) {
        const dl = el('dl');
        for (const l of d.latest) {
          dl.append(
            el('dt', {}, METRIC[l.metric]?.[lang] ?? l.metric),
            el('dd', { 'data-key': `${d.id}/${l.metric}` }, fmt(l.metric, l.value, l.unit)),
          );
        }
        const age = d.lastSeen ? Math.max(0, Math.round((now - Date.parse(d.lastSeen)) / 1000)) : null;
        const fresh = el(
          'p',
          { class: `fresh${age === null || age > 300 ? ' stale' : ''}` },
          age === null ? t('never') : t('ago')(age),
        );
        list.append(
          el('article', { class: 'device', 'data-device': d.id }, el('h4', {}, d.name || d.id), fresh, dl),
        );
      }
      section.append(el('div', { class: 'field' }, el('h3', {}, g.name), list));
    }
    root.append(section);
  }
}

async function api(path, opts = {}) {
  const res = await fetch(path, { credentials: 'same-origin', ...opts });
  if (!res.ok) throw Object.assign(new Error(`HTTP ${res.status}`), { status: res.status });
  return res.status === 204 ? null : res.json();
}

async function load() {
  const [farms, devices] = await Promise.all([api('/api/v1/farms'), api('/api/v1/devices')]);
  state = { farms, devices };
  $('#login').hidden = true;
  $('#farms').hidden = false;
  $('#logout').hidden = false;
  render();
  source?.close();
  source = new EventSource('/api/v1/live');
  source.addEventListener('reading', (ev) => {
    const r = JSON.parse(ev.data);
    const d = state.devices.find((x) => x.id === r.device && x.farm === r.farm);
    if (!d) return;
    const i = d.latest.findIndex((l) => l.metric === r.metric);
    const entry = { metric: r.metric, value: r.value, unit: r.unit, time: r.time, flags: r.flags };
    if (i < 0) d.latest.push(entry);
    else if (Date.parse(d.latest[i].time) <= Date.parse(r.time)) d.latest[i] = entry;
    if (!d.lastSeen || Date.parse(d.lastSeen) < Date.parse(r.time)) d.lastSeen = r.time;
    render();
    document.querySelector(`[data-key="${CSS.escape(`${r.device}/${r.metric}`)}"]`)?.classList.add('flash');
  });
}

function showLogin() {
  $('#login').hidden = false;
  $('#farms').hidden = true;
  $('#logout').hidden = true;
}

$('#login').addEventListener('submit', async (e) => {
  e.preventDefault();
  const form = new FormData(e.target);
  try {
    const me = await api('/api/v1/auth/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: form.get('username'), password: form.get('password') }),
    });
    sessionStorage.setItem('hatake.csrf', me.csrf);
    $('#login-error').textContent = '';
    await load();
  } catch {
    $('#login-error').textContent = t('failed');
  }
});
$('#logout').addEventListener('click', async () => {
  await api('/api/v1/auth/logout', {
    method: 'POST',
    headers: { 'x-csrf-token': sessionStorage.getItem('hatake.csrf') ?? '' },
  }).catch(() => {});
  source?.close();
  showLogin();
});
$('#lang').addEventListener('click', () => {
  lang = lang === 'ja' ? 'en' : 'ja';
  localStorage.setItem('hatake.lang', lang);
  applyLang();
});
setInterval(render, 10_000); // keep "n seconds ago" honest
applyLang();
api('/api/v1/auth/me')
  .then((me) => {
    sessionStorage.setItem('hatake.csrf', me.csrf);
    return load();
  })
  .catch(showLogin);
