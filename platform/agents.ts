// Agents an operator defines (name, provider, instructions, model, custom env/args).
// A task enqueued for an agent goes to a runtime of the agent's provider, and its claim
// carries the agent as Multica's daemon expects it (see api/agents.ts).
import { randomUUID } from 'node:crypto';
import { AgentCreate, AgentUpdate, type Agent, type TaskAgent } from '../api/agents.js';
import type { DB } from './db.js';
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

  constructor(private readonly db: DB) {
    this.q = {
      insert: db.prepare(
        `INSERT INTO agent (id, workspace_id, name, provider, instructions, model, custom_env_json, custom_args_json, created_at, updated_at)
           VALUES (@id, @workspace_id, @name, @provider, @instructions, @model, @custom_env_json, @custom_args_json, @created_at, @updated_at)`,
      ),
      update: db.prepare(
        `UPDATE agent SET name = @name, provider = @provider, instructions = @instructions, model = @model,
                custom_env_json = @custom_env_json, custom_args_json = @custom_args_json, updated_at = @updated_at
           WHERE id = @id`,
      ),
      byId: db.prepare('SELECT * FROM agent WHERE id = ?'),
      byName: db.prepare('SELECT id FROM agent WHERE workspace_id = ? AND name = ?'),
      list: db.prepare('SELECT * FROM agent WHERE workspace_id = ? ORDER BY name, id'),
    };
  }

  create(workspaceId: string, body: unknown): Agent {
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
    this.requireFreeName(workspaceId, row.name, row.id);
    this.q.insert.run(row);
    return toAgent(row);
  }

  update(workspaceId: string, id: string, body: unknown): Agent {
    const b = parseBody(AgentUpdate, body);
    return this.db.transaction((): Agent => {
      const r = this.row(workspaceId, id);
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
      this.requireFreeName(workspaceId, next.name, id);
      this.q.update.run(next);
      return toAgent(next);
    })();
  }

  list(workspaceId: string): Agent[] {
    return (this.q.list.all(workspaceId) as AgentRow[]).map(toAgent);
  }

  get(workspaceId: string, id: string): Agent {
    return toAgent(this.row(workspaceId, id));
  }

  /** The agent as a claimed task carries it (read at claim time: edits reach queued tasks). */
  forTask(id: string): TaskAgent | undefined {
    const r = this.q.byId.get(id) as AgentRow | undefined;
    if (!r) return undefined;
    const a = toAgent(r);
    const t: TaskAgent = { id: a.id, name: a.name, instructions: a.instructions, custom_env: a.custom_env, custom_args: a.custom_args, skills: [] };
    if (a.model !== null) t.model = a.model;
    return t;
  }

  private row(workspaceId: string, id: string): AgentRow {
    const r = this.q.byId.get(id) as AgentRow | undefined;
    if (!r || r.workspace_id !== workspaceId) throw notFound('agent not found');
    return r;
  }

  private requireFreeName(workspaceId: string, name: string, self: string): void {
    const other = this.q.byName.get(workspaceId, name) as { id: string } | undefined;
    if (other && other.id !== self) throw new HttpError(409, `an agent named ${JSON.stringify(name)} already exists in this workspace`);
  }
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
