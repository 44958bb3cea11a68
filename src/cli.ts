#!/usr/bin/env node
/**
 * The dd3d command line: the command tree (src/cli/program.ts) run through the one error path
 * (src/cli/run.ts): every failure prints `dd3d: error: <one line>` and exits 1, stack traces
 * only with DD3D_DEBUG=1.
 */
import { buildProgram } from './cli/program.js';
import { installCrashHandlers, runProgram } from './cli/run.js';

installCrashHandlers();
const status = await runProgram(buildProgram(), process.argv);
// a failure exits now, whatever is still pending (a worker, a timer); a success only sets the
// status, so a command that keeps running on purpose (view's server) is not cut off
if (status !== 0) process.exit(status);
process.exitCode = 0;
