// Frames of the WebSocket control channel (GET /api/daemon/ws), as Multica's server and
// daemon exchange them: JSON text `{type, payload}`. Only the frames agentd acts on have
// a payload schema; any other type is ignored (a newer server may send more).
import { Type, type Static } from '@sinclair/typebox';

export const ControlFrameSchema = Type.Object({ type: Type.String({ maxLength: 100 }), payload: Type.Optional(Type.Unknown()) });
export type ControlFrame = Static<typeof ControlFrameSchema>;

/** server → daemon: work is queued for a runtime; claim now. */
export const TASK_AVAILABLE = 'daemon:task_available';
export const TaskAvailableSchema = Type.Object({ runtime_id: Type.Optional(Type.String()), task_id: Type.Optional(Type.String()) });

/** server → daemon: the answer to a `daemon:heartbeat` (the HTTP heartbeat answer plus runtime_id). */
export const HEARTBEAT_ACK = 'daemon:heartbeat_ack';
export const HeartbeatAckSchema = Type.Object(
  {
    runtime_id: Type.String(),
    status: Type.Optional(Type.String()),
    /** The runtime row is gone (the WebSocket form of HTTP's 404 `runtime not found`). */
    runtime_gone: Type.Optional(Type.Boolean()),
    server_capabilities: Type.Optional(Type.Array(Type.String())),
  },
  { additionalProperties: true },
);
export type HeartbeatAck = Static<typeof HeartbeatAckSchema>;

/**
 * server → daemon, agentd's own frame (a Multica server never sends it; a Multica daemon
 * ignores it): a running task of this daemon ended on the platform's side (an operator
 * cancel). The daemon stops it at once instead of at its next status poll.
 */
export const TASK_STATUS = 'agentd:task_status';
export const TaskStatusFrameSchema = Type.Object({ task_id: Type.String({ minLength: 1, maxLength: 200 }), status: Type.String({ maxLength: 40 }) });
export type TaskStatusFrame = Static<typeof TaskStatusFrameSchema>;
/**
 * Named in a heartbeat ack's server_capabilities by a platform that sends TASK_STATUS
 * for every such end: while acks on the open channel name it, the daemon's status poll
 * is only a safety net and slows down (daemon/tasks/status-watch.ts).
 */
export const CAPABILITY_TASK_STATUS_PUSH = 'agentd-task-status-push';

/** server → daemon: something is pending for a runtime; send one HTTP heartbeat now. */
export const PENDING_WORK = 'daemon:pending_work';

/** daemon → server: liveness of one runtime, every heartbeat interval. */
export const HEARTBEAT = 'daemon:heartbeat';
export const HeartbeatFrameSchema = Type.Object({ runtime_id: Type.String() });
export type HeartbeatFramePayload = Static<typeof HeartbeatFrameSchema>;
