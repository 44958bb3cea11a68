/**
 * dd3d's one error path. Every failure, wherever it is thrown (a command, commander, tfjs, the
 * wasm backend, a worker, a stray callback), ends as one line `dd3d: error: <message>` on
 * stderr and exit status 1; the stack trace is printed only with DD3D_DEBUG=1.
 *
 * Conventions: a Dd3dError is a user's problem and prints its message as it is; a Node system
 * error (EACCES, ENOSPC, …) prints the file and the reason; anything else is dd3d's bug and
 * prints as "internal error: <first line>", pointing at DD3D_DEBUG. Messages are forced onto
 * one line here, so no caller can break the one-line promise.
 */
import { CommanderError, type Command } from 'commander';
import { Dd3dError } from '../core/errors.js';

export interface CliIo {
  /** Writes one chunk of stderr (commander's usage errors and ours). */
  err(text: string): void;
}

export const processIo: CliIo = { err: (text) => process.stderr.write(text) };

const debug = () => process.env.DD3D_DEBUG === '1';
const oneLine = (s: string) => s.replace(/\s*[\r\n]+\s*/g, ' ').trim();

/** The message of a failure, on one line, without the `dd3d: error: ` prefix. */
export function failureMessage(e: unknown): string {
  if (e instanceof Dd3dError) return oneLine(e.message);
  const err = e as NodeJS.ErrnoException | undefined;
  if (err && typeof err === 'object' && typeof err.code === 'string' && typeof err.syscall === 'string') {
    // "EACCES: permission denied, open 'x.png'" → "x.png: cannot open (EACCES: permission denied)"
    const reason = oneLine(String(err.message).split(',')[0]!);
    return err.path ? `${err.path}: cannot ${err.syscall} (${reason})` : `cannot ${err.syscall} (${reason})`;
  }
  const message = oneLine(e instanceof Error ? e.message : String(e)) || '(no message)';
  if (e instanceof RangeError && /allocation failed|Invalid (typed )?array length|out of memory/i.test(message)) {
    return `out of memory (${message}); use smaller sizes or batches`;
  }
  if (/^(RuntimeError|WebAssembly)|memory access out of bounds|Aborted\(/i.test(`${(e as Error)?.name ?? ''}: ${message}`)) {
    return `the tensor backend failed (${message}); the sizes are likely too large for the wasm backend's 4 GB heap`;
  }
  return `internal error: ${message}${debug() ? '' : ' (set DD3D_DEBUG=1 for the stack trace)'}`;
}

/** Prints a failure the one way (plus its stack under DD3D_DEBUG=1) and returns the exit status, 1. */
export function reportFailure(e: unknown, io: CliIo = processIo): number {
  io.err(`dd3d: error: ${failureMessage(e)}\n`);
  if (debug() && e instanceof Error && e.stack) io.err(`${e.stack}\n`);
  return 1;
}

/**
 * Runs the program on argv (as process.argv: node, script, args…) and returns the exit status
 * instead of exiting, so tests can run many commands in one process. The program must have
 * been built with `exitOverride()` so commander throws rather than exits.
 */
export async function runProgram(program: Command, argv: string[], io: CliIo = processIo): Promise<number> {
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    // commander has already printed its own one-line usage error (or the help, or the version)
    if (e instanceof CommanderError) return e.exitCode;
    return reportFailure(e, io);
  }
}

let installed = false;

/**
 * Routes errors that escape every await (a throw in a callback, a rejected promise nobody
 * awaited) to the one error path. tfjs-backend-wasm's emscripten module adds listeners to
 * the same events when the backend starts that rethrow, which makes Node print a stack and
 * exit 7; listeners run in the order they were added and ours exits first, so install this
 * before the backend starts. `prependListener` keeps it first even if a listener was added
 * earlier.
 */
export function installCrashHandlers(): void {
  if (installed) return;
  installed = true;
  const die = (e: unknown) => {
    reportFailure(e);
    process.exit(1);
  };
  process.prependListener('uncaughtException', die);
  process.prependListener('unhandledRejection', die);
  // The reader of stdout went away (`dd3d sample --help | head`): nobody is left to tell, so
  // stop quietly as `head`'s other writers do, instead of "dd3d: error: cannot write (EPIPE)".
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') die(e);
    else process.exit(0);
  });
}
