// A TCP load balancer with one backend at a time, for replica tests: the daemon's
// platform_url points here, and `switchTo` moves every new connection to another
// replica while dropping the open ones, as a balancer does when a backend goes away.
import net from 'node:net';

export interface Balancer {
  url: string;
  /** Connections accepted so far, per backend port. */
  accepted: Map<number, number>;
  switchTo(port: number): void;
  close(): Promise<void>;
}

export async function startBalancer(backendPort: number): Promise<Balancer> {
  let target = backendPort;
  const open = new Set<net.Socket>();
  const accepted = new Map<number, number>();
  const server = net.createServer((client) => {
    const port = target;
    accepted.set(port, (accepted.get(port) ?? 0) + 1);
    const upstream = net.connect(port, '127.0.0.1');
    for (const s of [client, upstream]) {
      open.add(s);
      s.on('close', () => open.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    accepted,
    switchTo(p: number) {
      target = p;
      for (const s of open) s.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}
