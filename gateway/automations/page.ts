// The automations on the gateway's own pages, for a phone in the barn with no internet: a short
// section for the status page (what runs, each valve's state, anything critical) and the
// automations page with the recent log and the manual-override form. Rendered on the server, no
// scripts; every value that came from outside is escaped.
import { formatLocal } from '../../edge/rules/local-time.ts';
import { esc, fmtValue, metricLabel } from '../http.ts';
import type { AutomationLog } from '../../protocol/automation.ts';
import { MAX_OVERRIDE_MINUTES, type AutomationsStatus } from './engine.ts';

export type Lang = 'ja' | 'en';

/** How the override code is printed on the gateway (docs/raspberry-pi.md), as the form shows it. */
const OVERRIDE_CODE_COMMAND =
  '<br><code lang="en" translate="no">hatake gateway override-code --config gateway.yaml</code>';

const T = {
  ja: {
    title: '自動化',
    automations: '自動化',
    none: 'なし',
    valves: '水門・バルブ',
    state: '状態',
    unknown: '不明',
    runsToday: '本日の回数',
    last: '最新の値',
    quiet: '静かな時間帯',
    quietNow: '（いま静かな時間帯）',
    cooldown: '待機',
    until: 'まで',
    run: '動作中',
    closesItself: '自動で閉じる',
    maxOpen: '最長で閉じる',
    override: '手動操作',
    fault: '異常',
    faultText: '閉じたと報告しません。現地で確認してください',
    notRun: '実行しません',
    notFit: 'この農場の機器やキットに合いません',
    phase: { opening: '開けています', open: '開いています', closing: '閉じています' } as Record<
      string,
      string
    >,
    disabled: '無効',
    log: '記録',
    form: '手動操作の設定',
    device: '機器',
    mode: '操作',
    hold_closed: '閉で固定',
    hold_open: '開で固定',
    pause: '自動化を一時停止',
    clear: '手動操作を解除',
    minutes: '分間',
    by: '名前',
    token: '手動操作コード',
    tokenHelp: `設置のときに渡された「手動操作コード」のカードに書いてあります。わからないときは、ゲートウェイで次のコマンドを実行すると表示されます（gateway.yaml は設定ファイルの場所に置き換えてください）: ${OVERRIDE_CODE_COMMAND}`,
    submit: '設定する',
    back: '状態の画面へ',
    more: '自動化の画面（手動操作）',
    done: '設定しました',
    lang: 'English',
    side: { low: '下限より下', inside: '範囲内', high: '上限より上' },
  },
  en: {
    title: 'Automations',
    automations: 'Automations',
    none: 'none',
    valves: 'Water gates and valves',
    state: 'State',
    unknown: 'unknown',
    runsToday: 'Runs today',
    last: 'Latest value',
    quiet: 'Quiet hours',
    quietNow: ' (quiet now)',
    cooldown: 'Cool-down',
    until: 'until',
    run: 'Running',
    closesItself: 'closes itself',
    maxOpen: 'closed at the latest',
    override: 'Manual override',
    fault: 'FAULT',
    faultText: 'never reported closed; check it on site',
    notRun: 'not run',
    notFit: "does not fit this farm's devices and kits",
    phase: { opening: 'opening', open: 'open', closing: 'closing' } as Record<string, string>,
    disabled: 'disabled',
    log: 'Log',
    form: 'Set a manual override',
    device: 'Device',
    mode: 'Action',
    hold_closed: 'Hold closed',
    hold_open: 'Hold open',
    pause: 'Pause automations',
    clear: 'End the override',
    minutes: 'Minutes',
    by: 'Your name',
    token: 'Manual override code',
    tokenHelp: `On the “manual override code” card left when the gateway was set up. To print it again, run this on the gateway, with the path of its configuration file for gateway.yaml: ${OVERRIDE_CODE_COMMAND}`,
    submit: 'Set',
    back: 'Status page',
    more: 'Automations page (manual override)',
    done: 'Done',
    lang: '日本語',
    side: { low: 'below the band', inside: 'inside the band', high: 'above the band' },
  },
};

const at = (tz: string, t: number | null) => (t === null ? '—' : formatLocal(tz, t));
const isCritical = (l: AutomationLog) => l.detail?.severity === 'critical';

/** A log line in the reader's language (logs of older gateways carry only "ja / en"). */
const logText = (l: AutomationLog, lang: Lang) => l.text?.[lang] || l.message;

function valveState(s: AutomationsStatus['actuators'][number], lang: Lang): string {
  if (!s.reported) return T[lang].unknown;
  // An actuator's state metric, whatever its kit calls it: 0 closed, 1 open.
  return esc(fmtValue('valve_state', s.reported.value, '1', lang));
}

function valveRows(s: AutomationsStatus, lang: Lang): string {
  const t = T[lang];
  return s.actuators
    .map((a) => {
      const parts: string[] = [];
      if (a.run) {
        parts.push(
          `${t.run}: ${esc(a.run.owner)} «${esc(a.run.command)}» (${esc(Object.hasOwn(t.phase, a.run.phase) ? t.phase[a.run.phase] : a.run.phase)})` +
            (a.run.closesItselfAt !== null
              ? `<br>${t.closesItself} ${esc(at(s.timezone, a.run.closesItselfAt))}`
              : '') +
            (a.run.maxOpenAt !== null ? `<br>${t.maxOpen} ${esc(at(s.timezone, a.run.maxOpenAt))}` : '') +
            (a.run.closeAt !== null ? `<br>${t.until} ${esc(at(s.timezone, a.run.closeAt))}` : ''),
        );
      }
      if (a.override)
        parts.push(
          `<b>${t.override}: ${t[a.override.mode]}</b> ${t.until} ${esc(at(s.timezone, a.override.until))} (${esc(a.override.by)})`,
        );
      if (a.fault)
        parts.push(
          `<b class="critical">${t.fault}: ${t.faultText}</b><br><small lang="en">${esc(a.fault)}</small>`,
        );
      return `<tr${a.fault ? ' class="bad"' : ''}><th scope="row">${esc(a.device)}</th><td>${valveState(a, lang)}${a.reported ? `<br><small>${esc(at(s.timezone, a.reported.time))}</small>` : ''}</td><td>${parts.join('<br>') || '—'}</td></tr>`;
    })
    .join('\n');
}

/** The trigger's latest value as the sensor table shows it: its label and the farmer's unit. */
function lastValue(a: AutomationsStatus['automations'][number], value: number, lang: Lang): string {
  const tr = a.trigger;
  if (!tr) return `${esc(a.sensor)} = ${esc(value)}`;
  return `${esc(tr.device)} ${esc(metricLabel(tr.metric, lang, tr.name))} = <b>${esc(fmtValue(tr.metric, value, tr.unit, lang))}</b>`;
}

function automationRows(s: AutomationsStatus, lang: Lang): string {
  const t = T[lang];
  return s.automations
    .map((a) => {
      const name = a.name ? (lang === 'ja' ? a.name.ja || a.name.en : a.name.en || a.name.ja) : a.id;
      const state = a.problem
        ? `<span class="warning">${t.notRun}: ${t.notFit}</span><br><small lang="en">${esc(a.problem)}</small>`
        : !a.enabled
          ? t.disabled
          : [
              `${t.runsToday}: ${esc(a.runsToday)}/${esc(a.maxRunsPerDay ?? '—')}`,
              a.lastValue ? `${t.last}: ${lastValue(a, a.lastValue.value, lang)}` : '',
              a.side ? t.side[a.side] : '',
              a.quietHours
                ? `${t.quiet}: ${esc(a.quietHours.from)}–${esc(a.quietHours.to)}${a.quietNow ? t.quietNow : ''}`
                : '',
              a.cooldownUntil !== null
                ? `${t.cooldown} ${t.until} ${esc(at(s.timezone, a.cooldownUntil))}`
                : '',
            ]
              .filter(Boolean)
              .join('<br>');
      return `<tr><th scope="row">${esc(name)}<br><small>${esc(a.id)}</small></th><td>${state}</td></tr>`;
    })
    .join('\n');
}

function logList(s: AutomationsStatus, limit: number, lang: Lang): string {
  return s.logs.length
    ? `<ul>${s.logs
        .slice(0, limit)
        .map(
          (l) =>
            `<li${isCritical(l) ? ' class="critical"' : ''}>${esc(at(s.timezone, l.time))} <small>${esc(l.automation)} <span lang="en">${esc(l.event)}</span></small> ${esc(logText(l, lang))}</li>`,
        )
        .join('')}</ul>`
    : '';
}

/** The automations section of the gateway's status page (the lead places it in renderStatusPage). */
export function renderAutomationsSection(s: AutomationsStatus, lang: Lang): string {
  const t = T[lang];
  const critical = s.logs.filter(isCritical).slice(0, 3);
  return `<h2>${t.automations}</h2>
${critical.map((l) => `<p class="critical">${esc(at(s.timezone, l.time))} ${esc(logText(l, lang))}</p>`).join('\n')}
${s.automations.length ? `<table><tbody>${automationRows(s, lang)}</tbody></table>` : `<p>${t.none}</p>`}
${s.actuators.length ? `<h3>${t.valves}</h3><table><tbody>${valveRows(s, lang)}</tbody></table>` : ''}
${logList(s, 5, lang)}
<p><a href="/automations?lang=${lang}">${t.more}</a></p>`;
}

/** The automations page: state, the recent log and the manual-override form. */
export function renderAutomationsPage(
  s: AutomationsStatus,
  lang: Lang,
  opts: { gateway: string; /** The device whose override was just set. */ done?: string; error?: string },
): string {
  const t = T[lang];
  const devices = s.actuators
    .map((a) => `<option value="${esc(a.device)}">${esc(a.device)}</option>`)
    .join('');
  const modes = (['hold_closed', 'hold_open', 'pause', 'clear'] as const)
    .map(
      (m) =>
        `<label><input type="radio" name="mode" value="${m}"${m === 'hold_closed' ? ' checked' : ''}> ${t[m]}</label>`,
    )
    .join('<br>');
  return `<!doctype html><html lang="${lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${t.title} — ${esc(opts.gateway)}</title>
<style>body{font:16px/1.45 system-ui,"Hiragino Sans","Noto Sans JP",sans-serif;margin:0;color:#1b1f1c;background:#f6f7f2}
header{background:#2f6b3b;color:#fff;padding:.5rem 1rem;display:flex;justify-content:space-between;align-items:center}header a{color:#fff}
main{padding:.75rem;max-width:60rem;margin:auto;overflow-wrap:break-word}small[lang=en],span[lang=en]{overflow-wrap:anywhere}table{border-collapse:collapse;width:100%;background:#fff}th,td{padding:.4rem;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
.bad{background:#fff1e6}.critical{color:#a40000;font-weight:bold}.warning{color:#8a4b00}.notice{background:#e6f4ea;padding:.5rem}
form{background:#fff;padding:.75rem;display:grid;gap:.6rem;max-width:28rem}input,select,button{font:inherit;padding:.35rem}button{background:#2f6b3b;color:#fff;border:0;padding:.5rem 1rem}</style></head>
<body><header><h1 style="font-size:1.1rem;margin:0">${t.title}: ${esc(opts.gateway)}</h1><a href="?lang=${lang === 'ja' ? 'en' : 'ja'}" lang="${lang === 'ja' ? 'en' : 'ja'}">${t.lang}</a></header><main>
${opts.done ? `<p class="notice">${t.done}: ${esc(opts.done)}</p>` : ''}${opts.error ? `<p class="critical">${esc(opts.error)}</p>` : ''}
<p><a href="/?lang=${lang}">${t.back}</a></p>
<h2>${t.valves}</h2>${s.actuators.length ? `<table><thead><tr><th scope="col">${t.device}</th><th scope="col">${t.state}</th><th scope="col"></th></tr></thead><tbody>${valveRows(s, lang)}</tbody></table>` : `<p>${t.none}</p>`}
<h2>${t.form}</h2>
<form method="post" action="/automations/override">
<input type="hidden" name="lang" value="${lang}">
<label>${t.device}<br><select name="device" required>${devices}</select></label>
<fieldset><legend>${t.mode}</legend>${modes}</fieldset>
<label>${t.minutes}<br><input type="number" name="minutes" min="1" max="${MAX_OVERRIDE_MINUTES}" value="60" required></label>
<label>${t.by}<br><input type="text" name="by" maxlength="64" autocomplete="name"></label>
<label>${t.token}<br><input type="password" name="token" maxlength="64" required autocomplete="off"><br><small>${t.tokenHelp}</small></label>
<button type="submit">${t.submit}</button>
</form>
<h2>${t.automations}</h2>${s.automations.length ? `<table><tbody>${automationRows(s, lang)}</tbody></table>` : `<p>${t.none}</p>`}
<h2>${t.log}</h2>${logList(s, 30, lang) || `<p>${t.none}</p>`}
</main></body></html>`;
}
