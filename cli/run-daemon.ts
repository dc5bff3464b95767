// What `agentd run` loads once the compile cache is on (cli/run.ts): the daemon and the
// checker of the CLI's own input, behind one import(), so that in the run build
// (scripts/esbuild-node.mjs) they are one entry and their modules few chunks: each
// import() is an entry of its own to esbuild, and a module reached from several
// entries goes into a chunk for that set of them.
export { runDaemon } from '../daemon/main.js';
export { typeboxChecker } from '../daemon/config.js';
export { checkCliEnv } from './env.js';
