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
      format: `${label} [{bar}] {value}/{total} | {duration_formatted} elapsed, {eta_formatted} left{info}`,
      stream: process.stderr,
      noTTYOutput: !process.stderr.isTTY,
      notTTYSchedule: 5000,
      hideCursor: true,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  const start = (from: number) => {
    bar.start(total, from, { info: '' });
    started = true;
  };
  return {
    update(done, info) {
      if (!started) start(opts.resumable ? Math.max(0, done - 1) : 0);
      bar.update(done, { info: info ? ` | ${info}` : '' });
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
