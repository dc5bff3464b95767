// Hostile load on a health port, in its own process so the prober's latencies are not
// the attacker's event-loop delays. Loopback only, bounded.
//   node attacker.mjs PORT CONNECTIONS MAX_OPENED
// Prints "READY" once every connection was attempted, then "STATS {open, opened}" on
// SIGUSR2 (answered on stdout), and exits on SIGTERM after closing everything.
//
// Holders (idle sockets, slowloris header dribblers) sit on a connection; one the server
// closes comes back within 10 ms, so a server that caps its connections cannot hand a
// freed slot to /healthz by luck. Requesters (garbage bytes, a 64 KB header, wrong
// methods and paths) are answered and closed, and come back after 1 s.
import net from 'node:net';

const [port, connections, maxOpened] = process.argv.slice(2).map(Number);
const KINDS = ['idle', 'idle', 'idle', 'slowloris', 'slowloris', 'slowloris', 'garbage', 'garbage', 'hugeHeader', 'wrongMethod'];
const HOLDER = new Set(['idle', 'slowloris']);
let stopped = false;
let opened = 0;
let connected = 0;
const live = new Set();

function one(kind) {
  if (stopped || opened >= maxOpened) return;
  opened++;
  const s = net.connect(port, '127.0.0.1');
  live.add(s);
  let drip = null;
  s.on('error', () => {});
  s.on('data', () => {});
  s.on('close', () => {
    live.delete(s);
    if (drip) clearInterval(drip);
    if (!stopped) setTimeout(() => one(kind), HOLDER.has(kind) ? 10 : 1000);
  });
  s.on('connect', () => {
    connected++;
    switch (kind) {
      case 'idle':
        break;
      case 'slowloris':
        s.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n');
        drip = setInterval(() => s.write(`X-${Math.random().toString(36).slice(2, 6)}: a\r\n`), 500);
        break;
      case 'garbage':
        s.write(Buffer.from([0, 255, 13, 10, 71, 69, 84, 32, 0, 0, 13, 10, 13, 10]));
        s.write('BLAH /healthz HTTP/9.9\r\n\r\n');
        break;
      case 'hugeHeader':
        s.write(`GET /status HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
        break;
      case 'wrongMethod':
        s.write('POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello');
        s.write('DELETE /nope/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n');
        break;
    }
  });
}

for (let i = 0; i < connections; i++) one(KINDS[i % KINDS.length]);
process.stdout.write('READY\n');
process.on('SIGUSR2', () => process.stdout.write(`STATS ${JSON.stringify({ open: live.size, opened, connected })}\n`));
process.on('SIGTERM', () => {
  stopped = true;
  for (const s of live) s.destroy();
  process.exit(0);
});
// Bounded in time too: never outlive a test that forgot to stop us.
setTimeout(() => process.exit(0), 120_000).unref();
