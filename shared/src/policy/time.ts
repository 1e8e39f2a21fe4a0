import { WEEKDAYS, type TimeWindow, type Weekday } from './types.js';

export class TimeError extends Error {}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:[Zz]|[+-]\d{2}:\d{2})$/;

/** An instant with its offset (`2027-01-31T18:00:00+01:00`), normalised to UTC (`2027-01-31T17:00:00Z`). */
export function normaliseInstant(raw: string): string {
  const text = raw.trim();
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) throw new TimeError(`needs a time and an offset: write ${text}T00:00:00Z (or +01:00 for your zone)`);
  const ms = RFC3339.test(text) ? Date.parse(text.replace(' ', 'T')) : NaN;
  if (Number.isNaN(ms)) throw new TimeError('is not an RFC 3339 time (write 2027-01-31T18:00:00Z or 2027-01-31T18:00:00+01:00)');
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}

/** An IANA zone in the spelling `Intl` uses (`europe/berlin` → `Europe/Berlin`). */
export function normaliseZone(raw: string): string {
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: raw.trim() }).resolvedOptions().timeZone;
  } catch {
    throw new TimeError(`"${raw}" is not an IANA time zone (write Europe/Berlin, America/New_York or UTC)`);
  }
}

const DAY_NAMES: Readonly<Record<string, Weekday>> = Object.fromEntries(
  WEEKDAYS.flatMap((d) => {
    const long = { mon: 'monday', tue: 'tuesday', wed: 'wednesday', thu: 'thursday', fri: 'friday', sat: 'saturday', sun: 'sunday' }[d];
    return [[d, d], [long, d]];
  }),
);

/** `[mon-fri, sun]`, `weekdays`, `weekends`, full names: the days in week order, each once. */
export function normaliseDays(raw: readonly string[]): Weekday[] {
  const days = new Set<Weekday>();
  for (const item of raw) {
    const text = item.trim().toLowerCase();
    if (text === 'weekdays') WEEKDAYS.slice(0, 5).forEach((d) => days.add(d));
    else if (text === 'weekends') WEEKDAYS.slice(5).forEach((d) => days.add(d));
    else if (text.includes('-')) {
      const [from, to] = text.split('-').map((t) => DAY_NAMES[t.trim()]);
      if (!from || !to) throw new TimeError(`"${item}" is not a range of days (write mon-fri)`);
      for (let i = WEEKDAYS.indexOf(from); ; i = (i + 1) % 7) {
        days.add(WEEKDAYS[i]!);
        if (WEEKDAYS[i] === to) break;
      }
    } else {
      const day = DAY_NAMES[text];
      if (!day) throw new TimeError(`"${item}" is not a day (mon, tue, … sun, weekdays, weekends)`);
      days.add(day);
    }
  }
  return WEEKDAYS.filter((d) => days.has(d));
}

const HOURS = /^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$/;

/** Minutes of the day at the start and the end of `HH:MM-HH:MM` (the end may be 24:00). */
function parseHours(text: string): [number, number] {
  const m = HOURS.exec(text.trim());
  const [from, to] = m ? [Number(m[1]) * 60 + Number(m[2]), Number(m[3]) * 60 + Number(m[4])] : [NaN, NaN];
  if (!m || Number(m[2]) > 59 || Number(m[4]) > 59 || from >= 24 * 60 || to > 24 * 60 || from === to) {
    throw new TimeError(`"${text}" is not a span of hours (write 09:00-18:00; 22:00-06:00 runs past midnight)`);
  }
  return [from, to];
}

const hhmm = (minutes: number): string => `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;

export function normaliseHours(raw: string): string {
  const [from, to] = parseHours(raw);
  return `${hhmm(from)}-${hhmm(to)}`;
}

/** `Mon-Fri 09:00-18:00 Europe/Paris`. */
export function describeWindow(window: TimeWindow): string {
  const cap = (d: string) => d[0]!.toUpperCase() + d.slice(1);
  const idx = window.days.map((d) => WEEKDAYS.indexOf(d));
  const contiguous = idx.every((v, i) => i === 0 || v === idx[i - 1]! + 1);
  const days =
    window.days.length === 7 ? 'every day' : contiguous && window.days.length > 2 ? `${cap(window.days[0]!)}-${cap(window.days.at(-1)!)}` : window.days.map(cap).join(',');
  return `${days} ${window.hours} ${window.zone}`;
}

const WEEKDAY_OF: Readonly<Record<string, number>> = { Mon: 0, Tue: 1, Wed: 2, Thu: 3, Fri: 4, Sat: 5, Sun: 6 };

/**
 * Whether an instant falls inside the window. Local time comes from `Intl` (DST included) and is
 * worked out once per UTC minute: every zone in use today is offset by whole minutes.
 */
export function compileWindow(window: TimeWindow): (at: number) => boolean {
  const format = new Intl.DateTimeFormat('en-US', { timeZone: window.zone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  const [from, to] = parseHours(window.hours);
  const days = new Set(window.days.map((d) => WEEKDAYS.indexOf(d)));
  let cachedMinute = NaN;
  let cachedInside = false;
  return (at) => {
    const minute = Math.floor(at / 60_000);
    if (minute === cachedMinute) return cachedInside;
    const parts = Object.fromEntries(format.formatToParts(at).map((p) => [p.type, p.value]));
    const day = WEEKDAY_OF[parts.weekday ?? ''] ?? -1;
    const local = Number(parts.hour) * 60 + Number(parts.minute);
    const inside =
      from < to ? days.has(day) && local >= from && local < to : (days.has(day) && local >= from) || (days.has((day + 6) % 7) && local < to);
    cachedMinute = minute;
    cachedInside = inside;
    return inside;
  };
}
