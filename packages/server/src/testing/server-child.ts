// Entry point of a server spawned by spawnServer(): configuration from UPDRAFT_* variables only.
import { loadConfig } from '../config/config.js';
import { startServer } from '../main.js';

const config = loadConfig({ env: process.env });
await startServer(config);
