import { Cron } from 'croner';

const NAMES = new Set(['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC', 'SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT']);

/**
 * Croner in UTC (a fixed offset, so results never depend on the machine's zone),
 * or undefined if the pattern is invalid or never fires.
 */
function schedule(pattern: string): Cron | undefined {
  try {
    const cron = new Cron(pattern, { utcOffset: 0, paused: true });
    return cron.nextRun(new Date(Date.UTC(2026, 0, 1))) ? cron : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether a schedule is a 5-field cron expression that K3s (robfig/cron) and
 * Kubernetes CronJobs both take, and that fires at all ("0 0 30 2 *" never does).
 * Croner's extensions (L, W, #, seconds) are refused: neither consumer knows them.
 */
export function isValidCron(pattern: string): boolean {
  const fields = pattern.trim().split(/\s+/);
  if (fields.length !== 5) return false;
  const tokensKnown = fields.every((f) => f.split(/[,/-]/).every((t) => /^(\d+|\*|\?)$/.test(t) || NAMES.has(t.toUpperCase())));
  return tokensKnown && schedule(pattern) !== undefined;
}

/**
 * The longest gap between two runs of a valid schedule, in seconds. The span walked is
 * one period of the pattern: two days when only minutes and hours are set, two weeks
 * with a day of the week, a year with a day of the month or a month.
 */
export function longestIntervalSeconds(pattern: string): number {
  const cron = schedule(pattern);
  if (!cron) throw new Error(`not a valid schedule: ${pattern}`);
  const [, , dayOfMonth, month, dayOfWeek] = pattern.trim().split(/\s+/);
  const open = (f: string) => f === '*' || f === '?';
  const days = open(dayOfMonth) && open(month) ? (open(dayOfWeek) ? 2 : 14) : 366;
  const start = Date.UTC(2026, 0, 1);
  const horizon = start + days * 86400_000;
  let previous = cron.nextRun(new Date(start)) as Date;
  let longest = 0;
  for (let i = 0; i < 100_000 && previous.getTime() <= horizon; i++) {
    const next = cron.nextRun(previous);
    if (!next) break;
    longest = Math.max(longest, next.getTime() - previous.getTime());
    previous = next;
  }
  return Math.round(longest / 1000);
}
