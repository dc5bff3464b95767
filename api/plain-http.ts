// A plain http:// platform URL sends the install token and the daemon credential in
// clear. That is fine only when the platform is this machine (loopback: tests, a local
// demo, an SSH tunnel); anywhere else it must be asked for by name (--insecure-http,
// AGENTD_INSECURE_HTTP=1, or "insecure_http": true in config.json).

/** True when `url` is http:// to a host other than this machine. */
export function isPlainHttpRemote(url: string): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  return u.protocol === 'http:' && !isLoopbackHostname(u.hostname);
}

/** localhost, 127.0.0.0/8 or [::1] (URL.hostname keeps the brackets of IPv6). */
export function isLoopbackHostname(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/\.$/, '');
  return h === 'localhost' || h === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}
