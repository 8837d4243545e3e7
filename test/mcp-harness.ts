// Real MCP parts for the tests of JSON-RPC errors: a low-level SDK `Server`
// whose tool handler answers bad arguments and unknown tools with JSON-RPC
// errors (as the protocol allows, and as an `McpServer` does not: it turns
// them into `isError` results), and a Streamable HTTP endpoint on 127.0.0.1
// that serves any server, one instance per session.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, ErrorCode, ListToolsRequestSchema, McpError } from '@modelcontextprotocol/sdk/types.js';
import { instrumentMcpServer } from '../src/mcp/index.js';

/**
 * A low-level server, instrumented, with one tool: `forecast` needs a string
 * `city`; without one it throws `McpError(InvalidParams)` (-32602), as it
 * does for a tool it does not have.
 */
export function makeStrictMcpServer(): Server {
  const server = instrumentMcpServer(new Server({ name: 'strict-server', version: '2.0.0' }, { capabilities: { tools: {} } }));
  server.setRequestHandler(ListToolsRequestSchema, () => ({
    tools: [{ name: 'forecast', inputSchema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } }],
  }));
  server.setRequestHandler(CallToolRequestSchema, (request) => {
    if (request.params.name !== 'forecast') throw new McpError(ErrorCode.InvalidParams, `unknown tool: ${request.params.name}`);
    const city = request.params.arguments?.['city'];
    if (typeof city !== 'string') throw new McpError(ErrorCode.InvalidParams, 'forecast needs a city');
    return { content: [{ type: 'text', text: `Sunny in ${city}` }] };
  });
  return server;
}

/** What a server factory gives: the SDK's `Server` or `McpServer`, anything that connects to a transport. */
export interface Connectable {
  connect(transport: StreamableHTTPServerTransport): Promise<void>;
}

/** Serves `makeServer()` over Streamable HTTP on 127.0.0.1 (one per session); `close` ends the sessions and the listener. */
export async function serveMcpOverHttp(makeServer: () => Connectable): Promise<{ url: URL; close(): Promise<void> }> {
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const http = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = chunks.length === 0 ? undefined : JSON.parse(Buffer.concat(chunks).toString('utf8'));
    const sessionId = req.headers['mcp-session-id'];
    let transport = typeof sessionId === 'string' ? transports.get(sessionId) : undefined;
    if (transport === undefined) {
      const created = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => void transports.set(id, created),
      });
      transport = created;
      await makeServer().connect(transport);
    }
    await transport.handleRequest(req, res, body);
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    url: new URL(`http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`),
    async close() {
      for (const t of transports.values()) await t.close();
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    },
  };
}

/** The error a call rejects with, or a failure if it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail');
}
