/** Dubbo-shaped registry nodes (SPEC §10) for tests: URL-encoded provider URLs of several hundred bytes. */
export function dubboTree(root: string, interfaces: number, providers: number, consumers: number): [string, Buffer][] {
  const nodes: [string, Buffer][] = [[root, Buffer.alloc(0)]];
  for (let i = 0; i < interfaces; i++) {
    const iface = `${root}/com.example.service.Service${i}`;
    nodes.push([iface, Buffer.alloc(0)]);
    for (const cat of ['providers', 'consumers', 'configurators', 'routers']) nodes.push([`${iface}/${cat}`, Buffer.alloc(0)]);
    for (let p = 0; p < providers; p++) {
      const url = `dubbo://10.0.${i % 250}.${p}:20880/com.example.service.Service${i}?anyhost=true&application=app-${i}&dubbo=2.0.2&dynamic=true&generic=false&interface=com.example.service.Service${i}&methods=get,put,list,delete,update,query&pid=${1000 + p}&side=provider&timestamp=${1700000000000 + p}&${'x'.repeat(200)}`;
      nodes.push([`${iface}/providers/${encodeURIComponent(url)}`, Buffer.from(`10.0.${i % 250}.${p}`)]);
    }
    for (let c = 0; c < consumers; c++) {
      const url = `consumer://10.1.${i % 250}.${c}/com.example.service.Service${i}?application=client-${c}&category=consumers&check=false&pid=${2000 + c}&side=consumer&timestamp=${1700000000000 + c}`;
      nodes.push([`${iface}/consumers/${encodeURIComponent(url)}`, Buffer.alloc(0)]);
    }
  }
  return nodes;
}
