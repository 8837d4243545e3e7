/**
 * An MCP server over stdio with one tool, `forecast`, instrumented with
 * `instrumentMcpServer`: each tools/call it handles is a run of its own, the
 * child run of the client's tool step when the request carries that step's
 * link (an instrumented client puts it in `params._meta`). The tool does its
 * work as a nested step (`traceTool({ name: 'lookup_forecast', ... })`).
 *
 * examples/mcp-agent.ts starts it as a child process; on its own:
 *
 *   npx tsx examples/mcp-weather-server.ts     (speaks MCP on stdin/stdout)
 *
 * Its runs are recorded on this process's bus. With `relay: true` it sends
 * each run's events back to a client that asks (the agent does), so the
 * agent's bus, and `agentbus tail` of the agent, show them nested under the
 * calling step. Add `instrumentOtel()` + `setupOtlp()` here and in the agent
 * to see both sides as one trace in an OpenTelemetry backend.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';
import { traceTool } from 'agentbus';
import { instrumentMcpServer } from 'agentbus/mcp';

const FORECASTS: Record<string, { celsius: number; sky: string }> = {
  lisbon: { celsius: 21, sky: 'sunny' },
  paris: { celsius: 14, sky: 'light rain' },
  tokyo: { celsius: 18, sky: 'cloudy' },
};

const server = instrumentMcpServer(new McpServer({ name: 'weather-mcp', version: '1.0.0' }), { relay: true });

server.registerTool(
  'forecast',
  { description: 'Today’s forecast for a city.', inputSchema: { city: z.string().describe('The city, e.g. "Paris"') } },
  async ({ city }) => {
    // The tool's own work: a step of the server's run, nested under its tools/call step.
    const forecast = await traceTool({ name: 'lookup_forecast', args: { city } }, async () => {
      await new Promise((resolve) => setTimeout(resolve, 150));
      return FORECASTS[city.toLowerCase()];
    });
    if (forecast === undefined) {
      return { content: [{ type: 'text', text: `no forecast for ${city}; try ${Object.keys(FORECASTS).join(', ')}` }], isError: true };
    }
    return { content: [{ type: 'text', text: `${city}: ${forecast.celsius} °C, ${forecast.sky}` }] };
  },
);

await server.connect(new StdioServerTransport());
