/**
 * HTTP agents for the OTLP exporters that shutdown can close.
 *
 * An export to a collector that is down or hung keeps the process alive for
 * the exporter's whole timeout (10 s by default): a hung request holds its
 * socket, a refused one schedules retries. `setupOtlp().shutdown()` waits a
 * bounded time, then closes these agents: open sockets are destroyed and any
 * later connection fails at once, with an error the exporter does not retry,
 * so no socket and no retry outlives shutdown by more than one backoff.
 */
import { Agent as HttpAgent, type AgentOptions } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Duplex } from 'node:stream';

/** The error a closed agent fails connections with (not a code the exporter retries). */
function closedError(): Error {
  return Object.assign(new Error('agentbus setupOtlp: exporter shut down'), { code: 'ERR_AGENTBUS_EXPORTER_SHUT_DOWN' });
}

type CreateConnection = (options: object, callback?: (error: Error | null, socket: Duplex) => void) => Duplex | undefined;

/** Makes `agent` closable: tracks its sockets, and after `close` destroys them and every new one. */
function closable<A extends HttpAgent>(agent: A, closed: () => boolean, sockets: Set<Duplex>): A {
  const create = (agent as unknown as { createConnection: CreateConnection }).createConnection.bind(agent);
  (agent as unknown as { createConnection: CreateConnection }).createConnection = (options, callback) => {
    const socket = create(options, callback);
    if (socket === undefined) return socket;
    if (closed()) {
      process.nextTick(() => socket.destroy(closedError()));
      return socket;
    }
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    return socket;
  };
  return agent;
}

/** A set of agents, one per protocol, built on demand, closed together. */
export class ClosableAgents {
  #closed = false;
  readonly #sockets = new Set<Duplex>();
  readonly #agents: HttpAgent[] = [];

  /** The exporters' `httpAgentOptions` factory. */
  readonly factory = (protocol: string): HttpAgent => {
    const options: AgentOptions = { keepAlive: true };
    const agent = closable(protocol === 'https:' ? new HttpsAgent(options) : new HttpAgent(options), () => this.#closed, this.#sockets);
    this.#agents.push(agent);
    return agent;
  };

  /** Destroys every open socket and fails every later connection. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const socket of this.#sockets) socket.destroy(closedError());
    this.#sockets.clear();
    for (const agent of this.#agents) agent.destroy();
  }
}
