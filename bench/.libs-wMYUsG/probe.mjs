
const rss0 = process.memoryUsage().rss;
const t0 = performance.now();
await import(process.argv[2]);
const ms = performance.now() - t0;
globalThis.gc?.();
const rss1 = process.memoryUsage().rss;
process.stdout.write(JSON.stringify({ ms, rss: (rss1 - rss0) / 1048576 }));
process.exit(0);
