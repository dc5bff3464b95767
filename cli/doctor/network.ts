// Can this machine talk to its platform, and does the platform still accept it? Layer by
// layer, so the failing one is named: proxy variables, DNS, TCP, TLS (with the CA store
// the daemon uses: the system store plus NODE_EXTRA_CA_CERTS), then one authenticated
// call that tells a revoked credential (401) from a network fault, and the clock skew
// against that answer's Date header.
import { lookup } from 'node:dns/promises';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import { PlatformClient } from '../../api/client.js';
import { NotFound, PlatformError, Unauthorized } from '../../api/errors.js';
import { isPlainHttpRemote } from '../../api/plain-http.js';
import { INSTALL_COMMAND } from '../../installer/target.js';
import { errText, fail, pass, withTimeout, type CheckResult } from './check.js';

const PROBE_MS = 5_000;
/** More than this between our clock and the platform's is a problem worth fixing. */
export const MAX_SKEW_S = 30;
/** A task id no platform has: its status route answers 404 to a valid credential, 401 to a revoked one. */
const NO_SUCH_TASK = '00000000-0000-4000-8000-000000000000';

interface ProxyUse {
  variable: string;
  url: URL;
}

/** userinfo shown as *** (a proxy password is a secret). */
export function maskUrl(raw: string): string {
  try {
    const u = new URL(raw);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return raw.replace(/\/\/[^@/]*@/, '//***@');
  }
}

/** Whether NO_PROXY exempts host:port (the forms undici's EnvHttpProxyAgent accepts: *, host, .suffix, host:port). */
export function noProxyMatches(noProxy: string, host: string, port: string): boolean {
  for (const raw of noProxy.split(/[,\s]+/)) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry === '*') return true;
    const m = /^(.*?)(?::(\d+))?$/.exec(entry)!;
    const h = m[1].replace(/^\*?\./, '');
    if (m[2] && m[2] !== port) continue;
    if (host === h || host.endsWith(`.${h}`)) return true;
  }
  return false;
}

function proxyFor(url: URL, env: NodeJS.ProcessEnv): ProxyUse | null {
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  const noProxy = env.no_proxy ?? env.NO_PROXY ?? '';
  if (noProxyMatches(noProxy, url.hostname.toLowerCase(), port)) return null;
  const names = url.protocol === 'https:' ? ['https_proxy', 'HTTPS_PROXY', 'http_proxy', 'HTTP_PROXY'] : ['http_proxy', 'HTTP_PROXY'];
  for (const n of names) {
    const v = env[n];
    if (!v) continue;
    try {
      return { variable: n, url: new URL(v) };
    } catch {
      return { variable: n, url: new URL('invalid://') };
    }
  }
  return null;
}

export function checkProxy(platformUrl: URL | null, env: NodeJS.ProcessEnv): CheckResult {
  const set = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy'].filter((k) => env[k]).map((k) => `${k}=${k.toLowerCase() === 'no_proxy' ? env[k] : maskUrl(env[k]!)}`);
  if (!platformUrl) return pass('proxy', 'proxy variables', set.length ? set.join(' ') : 'none set');
  const p = proxyFor(platformUrl, env);
  if (p && p.url.protocol !== 'http:' && p.url.protocol !== 'https:') {
    return fail('proxy', 'proxy variables', `${p.variable}=${maskUrl(env[p.variable]!)} is not an http(s) URL`, `export ${p.variable}=http://proxy.example:3128   (in the service: sudo systemctl edit agentd → Environment=${p.variable}=…)`);
  }
  const verdict = p ? `${platformUrl.host} goes through ${maskUrl(p.url.toString())} (${p.variable})` : set.length ? `${platformUrl.host} is reached directly` : 'none set; direct connection';
  return pass('proxy', 'proxy variables', set.length ? `${set.join(' ')}: ${verdict}` : verdict);
}

function tcpProbe(host: string, port: number): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const s = netConnect({ host, port, timeout: PROBE_MS });
    s.once('connect', () => {
      s.destroy();
      resolve(Math.round(performance.now() - t0));
    });
    s.once('timeout', () => {
      s.destroy();
      reject(Object.assign(new Error(`no answer within ${PROBE_MS / 1000} s`), { code: 'ETIMEDOUT' }));
    });
    s.once('error', reject);
  });
}

function tlsProbe(host: string, port: number, servername: string): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    // Default CA store: the system's plus NODE_EXTRA_CA_CERTS, exactly what the daemon trusts.
    const s = tlsConnect({ host, port, servername, timeout: PROBE_MS });
    s.once('secureConnect', () => {
      const cert = s.getPeerCertificate();
      s.destroy();
      resolve(cert);
    });
    s.once('timeout', () => {
      s.destroy();
      reject(Object.assign(new Error(`TLS handshake: no answer within ${PROBE_MS / 1000} s`), { code: 'ETIMEDOUT' }));
    });
    s.once('error', reject);
  });
}

const code = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? '';

export async function checkPlatform(platformUrl: URL, token: string | null, env: NodeJS.ProcessEnv, o: { now?: () => number; insecureHttp?: boolean } = {}): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  const proxy = proxyFor(platformUrl, env);
  const https = platformUrl.protocol === 'https:';
  // Through a proxy, the machine resolves and connects to the proxy, not the platform.
  const hop = proxy ? proxy.url : platformUrl;
  const hopName = proxy ? `proxy ${hop.hostname}` : hop.hostname;
  const host = hop.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(hop.port || (hop.protocol === 'https:' ? 443 : 80));
  const netFix = `curl -v ${platformUrl.origin}/   (from this machine; check the URL in config.json, firewalls${proxy ? ' and the proxy' : ', HTTPS_PROXY/NO_PROXY'})`;

  let reachable = true;
  try {
    const addrs = await withTimeout(PROBE_MS, 'DNS', () => lookup(host, { all: true }));
    out.push(pass('platform.dns', 'DNS', `${hopName} → ${addrs.map((a) => a.address).join(', ')}`));
  } catch (e) {
    reachable = false;
    out.push(fail('platform.dns', 'DNS', `${hopName} does not resolve: ${code(e) || errText(e)}`, `getent hosts ${host}   (check /etc/resolv.conf or the name in config.json)`));
  }
  if (reachable) {
    try {
      const ms = await tcpProbe(host, port);
      out.push(pass('platform.tcp', 'TCP', `${hopName} port ${port} connects (${ms} ms)`));
    } catch (e) {
      reachable = false;
      out.push(fail('platform.tcp', 'TCP', `${hopName} port ${port}: ${code(e) === 'ECONNREFUSED' ? 'connection refused (nothing listens: is the platform up?)' : code(e) || errText(e)}`, netFix));
    }
  }
  const ca = env.NODE_EXTRA_CA_CERTS ? `system CA store + NODE_EXTRA_CA_CERTS=${env.NODE_EXTRA_CA_CERTS}` : 'system CA store';
  // The daemon refuses plain http to another host unless accepted by name (daemon/main.ts).
  if (!https && isPlainHttpRemote(platformUrl.toString()) && !o.insecureHttp && env.AGENTD_INSECURE_HTTP !== '1') {
    out.push(fail('platform.tls', 'TLS', `not used: ${platformUrl.origin} is plain http to another machine, which the daemon refuses (the credential would travel unencrypted)`, `agentd install --force --platform https://${platformUrl.host}   (or accept the risk: AGENTD_INSECURE_HTTP=1 for the service)`));
  } else if (!https) out.push(pass('platform.tls', 'TLS', `not used: ${platformUrl.origin} is plain http${isPlainHttpRemote(platformUrl.toString()) ? ' (accepted by insecure_http / AGENTD_INSECURE_HTTP)' : ' on this machine'}`));
  else if (proxy) out.push(pass('platform.tls', 'TLS', `through the proxy (tunnelled; the credential check below verifies it with the ${ca})`));
  else if (reachable) {
    try {
      const cert = await tlsProbe(host, port, platformUrl.hostname);
      const cn = cert.subject?.CN ?? '?';
      const issuer = cert.issuer?.CN ?? cert.issuer?.O ?? '?';
      out.push(pass('platform.tls', 'TLS', `certificate ${cn} from ${issuer}, valid until ${cert.valid_to}; trusted by the ${ca}`));
    } catch (e) {
      reachable = false;
      const c = code(e);
      const caFix = `sudo systemctl edit agentd   → [Service] Environment=NODE_EXTRA_CA_CERTS=/path/to/platform-ca.pem   then: sudo agentd restart`;
      out.push(fail('platform.tls', 'TLS', `${platformUrl.host}: ${c || errText(e)}${c ? ` (${errText(e)})` : ''}; CA in use: ${ca}`, /CERT|SELF_SIGNED|UNABLE_TO|ISSUER/.test(c) ? caFix : netFix));
    }
  }

  if (!token) {
    out.push(fail('platform.credential', 'credential accepted', 'no usable credential to try (see the credential file above)', `agentd credentials set < FILE   (or re-enrol: ${INSTALL_COMMAND} -s -- --force)`));
    return out;
  }
  let answer: { status: number; date: string | undefined; at: number } | null = null;
  const now = o.now ?? Date.now;
  const client = new PlatformClient({ baseUrl: platformUrl.toString(), getToken: () => token, connectTimeoutMs: PROBE_MS, headersTimeoutMs: PROBE_MS * 2 });
  const route = `GET /api/daemon/tasks/${NO_SUCH_TASK}/status`;
  try {
    await client.taskStatus(NO_SUCH_TASK, { attempts: 1, timeoutMs: PROBE_MS * 2, onAnswer: (a) => (answer = { ...a, at: now() }) });
    out.push(pass('platform.credential', 'credential accepted', `${route} answered (the platform knows this daemon)`));
  } catch (e) {
    if (e instanceof NotFound) out.push(pass('platform.credential', 'credential accepted', `${route} → 404 task not found, as expected: the credential is valid`));
    else if (e instanceof Unauthorized) out.push(fail('platform.credential', 'credential accepted', `the platform refused the credential (401): it was revoked or rotated; the network is fine`, `agentd credentials set < FILE   (a rotated token), or re-enrol: curl -fsSL ${platformUrl.origin}/install.sh | AGENTD_INSTALL_TOKEN=mit_… sh -s -- --force`));
    else if (e instanceof PlatformError && e.status === undefined) out.push(fail('platform.credential', 'credential accepted', `not known: the platform did not answer (${e.networkCode ?? 'network'}: ${e.message}); a network fault, not the credential`, netFix));
    else out.push(fail('platform.credential', 'credential accepted', `unexpected answer: ${errText(e)}`, `curl -sS -o /dev/null -w '%{http_code}\\n' ${platformUrl.origin}/   (is ${platformUrl.origin} an agentd platform?)`));
  } finally {
    await client.close().catch(() => undefined);
  }

  const a = answer as { status: number; date: string | undefined; at: number } | null;
  if (!a) out.push(fail('platform.clock', 'clock skew', 'not measured: no answer from the platform', netFix));
  else if (!a.date || Number.isNaN(Date.parse(a.date))) out.push(pass('platform.clock', 'clock skew', 'not measured: the platform sent no Date header'));
  else {
    // Date is truncated to the second: the platform's clock read between Date and Date+1 s,
    // so a difference within [0, 1] s is no skew at all.
    const raw = (a.at - Date.parse(a.date)) / 1000;
    const skew = raw >= -0.5 && raw <= 1.5 ? 0 : Math.round(raw - 0.5);
    const text = skew === 0 ? 'in step with the platform (±1 s)' : `this machine is ${Math.abs(skew)} s ${skew > 0 ? 'ahead of' : 'behind'} the platform`;
    out.push(Math.abs(skew) <= MAX_SKEW_S ? pass('platform.clock', 'clock skew', text) : fail('platform.clock', 'clock skew', `${text} (more than ${MAX_SKEW_S} s)`, 'sudo timedatectl set-ntp true   (or: sudo chronyc makestep)'));
  }
  return out;
}
