/** What every command shares: starting the backend the user chose. */
import type { Command } from 'commander';
import { initBackend, parseBackendChoice, type BackendInfo } from '../backend/backend.js';

/** Starts the backend from --backend, else DD3D_BACKEND, else auto. */
export async function startBackend(cmd: Command, stockKernels = false): Promise<BackendInfo> {
  const flag = cmd.optsWithGlobals().backend as string | undefined;
  return initBackend(flag === undefined ? undefined : parseBackendChoice(flag, '--backend'), { stockKernels });
}
