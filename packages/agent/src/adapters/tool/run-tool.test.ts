import { describe, expect, it } from 'vitest';
import { runTool } from './run-tool.js';

// node itself stands in for a tool: these tests are about the bounds, not about any tool.
const node = process.execPath;

describe('runTool', () => {
  it('returns stdout and feeds the input on stdin', async () => {
    const out = await runTool(node, ['-e', 'process.stdin.pipe(process.stdout)'], {
      code: 'AGENT_BOOT_TOOL_FAILED',
      input: 'a=1\nb=2\n',
    });
    expect(out).toBe('a=1\nb=2\n');
  });

  it('reports a non-zero exit with the exit code, the last stderr line and the stdout tail', async () => {
    const error = await runTool(
      node,
      [
        '-e',
        'console.log("progress"); console.error("warning\\nLastError: broken"); process.exit(3)',
      ],
      { code: 'AGENT_INSTALLER_FAILED' },
    ).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'AGENT_INSTALLER_FAILED',
      message: expect.stringContaining('exited with 3: LastError: broken'),
      details: { exitCode: 3, stdout: 'progress', stderr: 'warning\nLastError: broken' },
    });
  });

  it('kills a tool that outlives its timeout', async () => {
    const started = Date.now();
    const error = await runTool(node, ['-e', 'setTimeout(() => {}, 60_000)'], {
      code: 'AGENT_BOOT_TOOL_FAILED',
      timeoutMs: 300,
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'AGENT_BOOT_TOOL_FAILED',
      message: expect.stringContaining('timed out after 300 ms'),
    });
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('stops a tool that prints more than the bound', async () => {
    const error = await runTool(node, ['-e', 'process.stdout.write("x".repeat(100000))'], {
      code: 'AGENT_BOOT_TOOL_FAILED',
      maxOutput: 1000,
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'AGENT_BOOT_TOOL_FAILED',
      message: expect.stringContaining('printed too much'),
    });
  });

  it('names a tool that is not installed', async () => {
    await expect(
      runTool('updraft-no-such-tool', [], { code: 'AGENT_BOOT_TOOL_FAILED' }),
    ).rejects.toMatchObject({
      code: 'AGENT_BOOT_TOOL_FAILED',
      message: 'updraft-no-such-tool is not installed (not found on PATH)',
    });
  });
});
