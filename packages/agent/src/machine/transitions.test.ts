import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AGENT_EVENTS, AGENT_STATES, type AgentState, isAgentState } from './agent-states.js';
import { HANDLERS } from './handlers.js';
import { stateMachineDoc } from './state-machine-doc.js';
import { findTransition, TRANSITIONS } from './transitions.js';

describe('transition table', () => {
  it('reaches every state from Idle', () => {
    const seen = new Set<AgentState>(['Idle']);
    const queue: AgentState[] = ['Idle'];
    while (queue.length > 0) {
      const from = queue.shift()!;
      for (const t of TRANSITIONS.filter((r) => r.from === from)) {
        if (!seen.has(t.to)) {
          seen.add(t.to);
          queue.push(t.to);
        }
      }
    }
    expect([...seen].sort()).toEqual([...AGENT_STATES].sort());
  });

  it('leads back to Idle from every state (no dead ends)', () => {
    for (const start of AGENT_STATES) {
      const seen = new Set<AgentState>([start]);
      const queue: AgentState[] = [start];
      while (queue.length > 0) {
        const from = queue.shift()!;
        for (const t of TRANSITIONS.filter((r) => r.from === from)) {
          if (!seen.has(t.to)) {
            seen.add(t.to);
            queue.push(t.to);
          }
        }
      }
      expect(seen.has('Idle'), `${start} cannot return to Idle`).toBe(true);
    }
  });

  it('handles failure in every state but Idle', () => {
    for (const state of AGENT_STATES.filter((s) => s !== 'Idle')) {
      expect(findTransition(state, 'failed'), state).toBeDefined();
    }
  });

  it('handles StateLoopDetected wherever an update persists its state', () => {
    const persisting = new Set(TRANSITIONS.filter((t) => t.persist).map((t) => t.from));
    for (const state of persisting) {
      if (state === 'CheckIn') continue; // enters an update; its writes are counted after it
      expect(findTransition(state, 'StateLoopDetected'), state).toBeDefined();
    }
  });

  it('has one row per (state, event) and only known names', () => {
    const keys = TRANSITIONS.map((t) => `${t.from}/${t.on}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const t of TRANSITIONS) {
      expect(isAgentState(t.from) && isAgentState(t.to)).toBe(true);
      expect(AGENT_EVENTS).toContain(t.on);
    }
  });

  it('persists every step of an update, so a power cut resumes inside it', () => {
    for (const t of TRANSITIONS) {
      const idle = t.from === 'Idle' || (t.from === 'CheckIn' && t.on !== 'update');
      const waiting = t.from === 'InstallWait' && t.on === 'deferred';
      if (!idle && !waiting) expect(t.persist, `${t.from} --${t.on}-->`).toBe(true);
    }
  });

  it('has a handler for every state', () => {
    expect(Object.keys(HANDLERS).sort()).toEqual([...AGENT_STATES].sort());
  });

  it('matches the committed docs/agent-state-machine.md', () => {
    const doc = readFileSync(
      new URL('../../../../docs/agent-state-machine.md', import.meta.url),
      'utf8',
    );
    expect(doc).toBe(stateMachineDoc());
  });
});
