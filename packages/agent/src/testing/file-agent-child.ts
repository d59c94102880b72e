// Child process for the kill -9 test: runs one file-backed agent until idle.
import { loadAgentConfig } from '../config/agent-config.js';
import { runFileAgent } from '../file-agent.js';

const config = await loadAgentConfig(process.argv[2]!);
await runFileAgent(config, { until: 'idle' });
