#!/usr/bin/env node
// The unbundled CLI (dist/bin/zk2etcd.js); the shipped one is dist/cli/zk2etcd.js (launch.ts).
import { runCli } from './cli.js';

runCli();
