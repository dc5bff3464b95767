// A few Prometheus primitives and the text exposition format (version 0.0.4), by hand:
// the daemon exposes a dozen series, which does not justify prom-client's weight at
// start-up. Values are pulled at scrape time from the modules that own them.

/** Cumulative histogram with fixed upper bounds (seconds). */
export class Histogram {
  readonly buckets: readonly number[];
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(buckets: readonly number[]) {
    this.buckets = [...buckets].sort((a, b) => a - b);
    this.counts = this.buckets.map(() => 0);
  }
  observe(v: number): void {
    this.sum += v;
    this.count += 1;
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]) this.counts[i] += 1;
  }
}

export const LATENCY_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export type Labels = Record<string, string>;

function fmtLabels(l: Labels | undefined): string {
  if (!l) return '';
  const parts = Object.entries(l).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

function fmtNum(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return String(n);
}

/** Builds one exposition document: each family once, HELP and TYPE before its samples. */
export class MetricsWriter {
  readonly #lines: string[] = [];

  family(name: string, type: 'counter' | 'gauge' | 'histogram', help: string, samples: { labels?: Labels; value: number }[]): this {
    this.#lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const s of samples) this.#lines.push(`${name}${fmtLabels(s.labels)} ${fmtNum(s.value)}`);
    return this;
  }

  counter(name: string, help: string, value: number, labels?: Labels): this {
    return this.family(name, 'counter', help, [{ labels, value }]);
  }

  gauge(name: string, help: string, value: number, labels?: Labels): this {
    return this.family(name, 'gauge', help, [{ labels, value }]);
  }

  histogram(name: string, help: string, h: Histogram): this {
    this.#lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
    h.buckets.forEach((b, i) => this.#lines.push(`${name}_bucket{le="${fmtNum(b)}"} ${h.counts[i]}`));
    this.#lines.push(`${name}_bucket{le="+Inf"} ${h.count}`, `${name}_sum ${fmtNum(h.sum)}`, `${name}_count ${h.count}`);
    return this;
  }

  toString(): string {
    return this.#lines.join('\n') + '\n';
  }
}
