/**
 * Progress bars on stderr for anything longer than a few seconds, so stdout stays clean for
 * --json. Without a TTY (CI, pipes) it prints a plain line every few seconds instead.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  /** Sets the done count; `info` is shown after the bar (e.g. "loss 0.123"). */
  update(done: number, info?: string): void;
  stop(): void;
}

export function progressBar(label: string, total: number, opts: { quiet?: boolean } = {}): Progress {
  if (opts.quiet) return { update() {}, stop() {} };
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
  bar.start(total, 0, { info: '' });
  return {
    update(done, info) {
      bar.update(done, { info: info ? ` | ${info}` : '' });
    },
    stop() {
      bar.stop();
    },
  };
}
