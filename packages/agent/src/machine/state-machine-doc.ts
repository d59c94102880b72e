import { AGENT_STATES } from './agent-states.js';
import { TRANSITIONS } from './transitions.js';

/**
 * Renders docs/agent-state-machine.md from the transition table (a Mermaid diagram and the table),
 * so the document cannot drift from the code: a test compares the committed file with this output.
 */
export function stateMachineDoc(): string {
  const lines = [
    '# Agent state machine',
    '',
    '<!-- Generated from packages/agent/src/machine/transitions.ts by',
    '     `npx tsx packages/agent/scripts/write-state-machine-doc.ts`. Do not edit by hand. -->',
    '',
    'Each row is one transition. Rows marked **persist** save the journal (with the new state)',
    'before the next handler runs, so a power cut resumes there; the others stay in memory.',
    'A counter of persisted writes per update turns a loop into `StateLoopDetected`.',
    '',
    '```mermaid',
    'stateDiagram-v2',
    '  [*] --> Idle',
    ...TRANSITIONS.map((t) => `  ${t.from} --> ${t.to}: ${t.on}${t.persist ? ' (persist)' : ''}`),
    '```',
    '',
    '| from | on | to | persist |',
    '| ---- | -- | -- | ------- |',
    ...TRANSITIONS.map((t) => `| ${t.from} | ${t.on} | ${t.to} | ${t.persist ? 'yes' : 'no'} |`),
    '',
    `States: ${AGENT_STATES.map((s) => `\`${s}\``).join(', ')}.`,
    '',
  ];
  return lines.join('\n');
}
