/**
 * The idle gate folds emission sites away until the first run opens; the
 * first run must then be recorded even where the JIT had already optimized
 * the idle path. Checked in a fresh process, against the build.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { runContext } from '../src/context.js';
import { gate } from '../src/gate.js';

const run = promisify(execFile);

describe('the idle gate', () => {
  it('is open exactly while a run is open', async () => {
    expect(gate.open).toBe(false);
    await runContext(async () => {
      expect(gate.open).toBe(true);
      await runContext(() => expect(gate.open).toBe(true));
      expect(gate.open).toBe(true);
    });
    expect(gate.open).toBe(false);
  });

  it('records the first run of a process whose idle emission sites were already optimized', async () => {
    const script = `
      const { emit, traceTool, startStep, getEventBus, peekEventBus, runContext } = await import('agentbus');
      const hot = (i) => {
        emit('hot.loop', { i });
        traceTool({ name: 't', args: {} }, () => i);
        startStep('agent.tool.started', { toolName: 't', toolCallId: 'c', argKeys: [] }).end({ toolName: 't', toolCallId: 'c', success: true, durationMs: 0 });
      };
      for (let i = 0; i < 2_000_000; i++) hot(i);
      if (peekEventBus() !== undefined) throw new Error('idle emission built the bus');
      await runContext(() => hot(-1), { runId: 'first' });
      for (let i = 0; i < 1000; i++) hot(i); // idle again: must not record
      console.log(JSON.stringify(getEventBus().history('first').map((e) => e.eventType)));
    `;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: import.meta.dirname, timeout: 60_000 });
    expect(JSON.parse(stdout)).toEqual([
      'run.started',
      'hot.loop',
      'agent.tool.started',
      'agent.tool.completed',
      'agent.tool.started',
      'agent.tool.completed',
      'run.completed',
    ]);
  });
});
