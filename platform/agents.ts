// Agents an operator defines (name, provider, instructions, model, custom env/args).
// A task enqueued for an agent goes to a runtime of the agent's provider, and its claim
// carries the agent as Multica's daemon expects it (see api/agents.ts).
import { randomUUID } from 'node:crypto';
import { AgentCreate, AgentUpdate, type Agent, type TaskAgent } from '../api/agents.js';
import { isUniqueViolation, type Database, type Sql } from './sql.js';
import { HttpError, notFound, parseBody } from './http.js';
import { iso } from './time.js';

interface AgentRow {
  id: string;
  workspace_id: string;
  name: string;
  provider: string;
  instructions: string;
  model: string | null;
  custom_env_json: string;
  custom_args_json: string;
  created_at: number;
  updated_at: number;
}

export class Agents {
  private readonly q;

  constructor(private readonly db: Database) {
    this.q = {
      insert: `INSERT INTO agent (id, workspace_id, name, provider, instructions, model, custom_env_json, custom_args_json, created_at, updated_at)
           VALUES (@id, @workspace_id, @name, @provider, @instructions, @model, @custom_env_json, @custom_args_json, @created_at, @updated_at)`,
      update: `UPDATE agent SET name = @name, provider = @provider, instructions = @instructions, model = @model,
                custom_env_json = @custom_env_json, custom_args_json = @custom_args_json, updated_at = @updated_at
           WHERE id = @id`,
      byId: 'SELECT * FROM agent WHERE id = ?',
      byName: 'SELECT id FROM agent WHERE workspace_id = ? AND name = ?',
      list: 'SELECT * FROM agent WHERE workspace_id = ? ORDER BY name, id',
    };
  }

  async create(workspaceId: string, body: unknown): Promise<Agent> {
    const b = parseBody(AgentCreate, body);
    const now = Date.now();
    const row: AgentRow = {
      id: randomUUID(),
      workspace_id: workspaceId,
      name: b.name,
      provider: b.provider,
      instructions: b.instructions ?? '',
      model: b.model || null,
      custom_env_json: JSON.stringify(b.custom_env ?? {}),
      custom_args_json: JSON.stringify(b.custom_args ?? []),
      created_at: now,
      updated_at: now,
    };
    await this.named(row.name, () =>
      this.db.tx(async (t) => {
        await this.requireFreeName(t, workspaceId, row.name, row.id);
        await t.run(this.q.insert, { ...row });
      }),
    );
    return toAgent(row);
  }

  async update(workspaceId: string, id: string, body: unknown): Promise<Agent> {
    const b = parseBody(AgentUpdate, body);
    return this.named(b.name ?? '', () =>
      this.db.tx(async (t): Promise<Agent> => {
        const r = await this.row(t, workspaceId, id);
        const next: AgentRow = {
          ...r,
          name: b.name ?? r.name,
          provider: b.provider ?? r.provider,
          instructions: b.instructions ?? r.instructions,
          model: b.model === undefined ? r.model : b.model || null,
          custom_env_json: b.custom_env === undefined ? r.custom_env_json : JSON.stringify(b.custom_env),
          custom_args_json: b.custom_args === undefined ? r.custom_args_json : JSON.stringify(b.custom_args),
          updated_at: Date.now(),
        };
        await this.requireFreeName(t, workspaceId, next.name, id);
        await t.run(this.q.update, { ...next });
        return toAgent(next);
      }),
    );
  }

  async list(workspaceId: string): Promise<Agent[]> {
    return (await this.db.all<AgentRow>(this.q.list, [workspaceId])).map(toAgent);
  }

  async get(workspaceId: string, id: string): Promise<Agent> {
    return toAgent(await this.row(this.db, workspaceId, id));
  }

  /** The agent as a claimed task carries it (read at claim time: edits reach queued tasks). */
  async forTask(id: string, q: Sql = this.db): Promise<TaskAgent | undefined> {
    const r = await q.get<AgentRow>(this.q.byId, [id]);
    if (!r) return undefined;
    const a = toAgent(r);
    const t: TaskAgent = { id: a.id, name: a.name, instructions: a.instructions, custom_env: a.custom_env, custom_args: a.custom_args, skills: [] };
    if (a.model !== null) t.model = a.model;
    return t;
  }

  private async row(q: Sql, workspaceId: string, id: string): Promise<AgentRow> {
    const r = await q.get<AgentRow>(this.q.byId, [id]);
    if (!r || r.workspace_id !== workspaceId) throw notFound('agent not found');
    return r;
  }

  private async requireFreeName(q: Sql, workspaceId: string, name: string, self: string): Promise<void> {
    const other = await q.get<{ id: string }>(this.q.byName, [workspaceId, name]);
    if (other && other.id !== self) throw taken(name);
  }

  /** Two writers racing for one name (two replicas): the unique index decides, and the loser hears 409. */
  private async named<T>(name: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (isUniqueViolation(e)) throw taken(name);
      throw e;
    }
  }
}

function taken(name: string): HttpError {
  return new HttpError(409, `an agent named ${JSON.stringify(name)} already exists in this workspace`);
}

function toAgent(r: AgentRow): Agent {
  return {
    id: r.id,
    workspace_id: r.workspace_id,
    name: r.name,
    provider: r.provider,
    instructions: r.instructions,
    model: r.model,
    custom_env: JSON.parse(r.custom_env_json) as Record<string, string>,
    custom_args: JSON.parse(r.custom_args_json) as string[],
    created_at: iso(r.created_at)!,
    updated_at: iso(r.updated_at)!,
  };
}
