/**
 * Progress bars on stderr for anything longer than a few seconds, so stdout stays clean for
 * --json. Without a TTY (CI, pipes) it prints a plain line every few seconds instead.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  /** Sets the done count; `info` is shown after the bar (e.g. "loss 0.123"). */
  update(done: number, info?: string): void;
  /** Prints a line above the bar (a finished part of the job), which the next update redraws under. */
  log(line: string): void;
  stop(): void;
}

/**
 * The bar appears at the first update, so an error found before any work starts (bad
 * settings, an unknown word) stays the one line the user sees.
 * `resumable`: a step loop that may continue from a checkpoint; the bar then starts at its
 * first update, from the step before it, so the ETA counts only the steps this process ran.
 */
export function progressBar(label: string, total: number, opts: { quiet?: boolean; resumable?: boolean } = {}): Progress {
  if (opts.quiet) return { update() {}, log() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {value}/{total} | {duration_formatted} elapsed, {left} left{info}`,
      stream: process.stderr,
      noTTYOutput: !process.stderr.isTTY,
      notTTYSchedule: 5000,
      hideCursor: true,
      formatTime: formatDuration,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  let from = 0;
  let startMs = 0;
  const start = (value: number) => {
    from = value;
    startMs = Date.now();
    bar.start(total, from, { info: '', left: '--' });
    started = true;
  };
  return {
    update(done, info) {
      if (!started) start(opts.resumable ? Math.max(0, done - 1) : 0);
      const left = formatDuration(secondsLeft(Date.now() - startMs, done - from, total - done), undefined, 5);
      bar.update(done, { info: info ? ` | ${info}` : '', left });
    },
    log(line) {
      process.stderr.write(`${process.stderr.isTTY ? '\r\x1b[K' : ''}${line}\n`);
    },
    stop() {
      // a loop that failed before its first step leaves no bar behind its error
      if (started) bar.stop();
    },
  };
}

/**
 * The ETA from the mean rate since the bar started: `done` steps in `elapsedMs`, `remaining`
 * to go; Infinity before the first step. Not cli-progress's, which takes the rate over its
 * last updates: work on worker threads reports in bursts (a sample worker's steps arrive
 * together between the main thread's batches), and a burst of near-simultaneous updates read
 * as a rate so high that the ETA showed "0s" for minutes.
 */
export function secondsLeft(elapsedMs: number, done: number, remaining: number): number {
  if (done <= 0) return Infinity;
  return ((elapsedMs / 1000) * Math.max(0, remaining)) / done;
}

/**
 * Seconds as "1h05m", "4m20s" or "9s". Rounds the whole duration to `roundTo` seconds (the bar
 * asks for 5 s on the ETA, 1 s on the elapsed time) before splitting it into units, so a
 * rounded-up remainder carries into the next unit: cli-progress's own formatter rounds the
 * remainder alone and printed "3h60m" for 3 h 59.8 min.
 */
export function formatDuration(seconds: number, _options?: unknown, roundTo = 1): string {
  if (!Number.isFinite(seconds)) return '--';
  const unit = seconds >= 3600 ? 60 : Math.max(1, roundTo);
  const s = Math.max(0, Math.round(seconds / unit) * unit);
  const pad = (v: number) => String(v).padStart(2, '0');
  if (s >= 3600) return `${Math.floor(s / 3600)}h${pad(Math.floor((s % 3600) / 60))}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  return `${s}s`;
}
