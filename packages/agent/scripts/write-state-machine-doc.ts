// Writes docs/agent-state-machine.md from the agent's transition table.
import { writeFileSync } from 'node:fs';
import { stateMachineDoc } from '../src/machine/state-machine-doc.js';

writeFileSync(new URL('../../../docs/agent-state-machine.md', import.meta.url), stateMachineDoc());
