// Loads a sample Dubbo-shaped registry into the local ZooKeeper for the demo (replacing an earlier one).
import { dubboTree } from '../dist/test/helpers/dubbo.js';
import { testZk } from '../dist/test/helpers/services.js';

const root = process.argv[2] ?? '/dubbo';
const zk = await testZk();
await zk.removeTree(root);
const nodes = dubboTree(root, 200, 5, 3);
nodes.push([`${root}/config`, Buffer.alloc(0)], [`${root}/config/dubbo.properties`, Buffer.from('dubbo.registry.timeout=5000\n')]);
await zk.createAll(nodes, 300);
zk.close();
console.log(`loaded ${nodes.length} znodes under ${root} (${root}/config is excluded by default)`);
